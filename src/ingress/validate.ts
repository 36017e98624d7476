// The checks the Kubernetes API server makes on an Ingress (networking/v1 validation), plus unknown
// fields (as `kubectl apply --validate=strict`): an Ingress that the API server would refuse is left out
// whole, with a problem naming the field. Standalone mode has no API server, so Weft makes them itself.
import { isIP } from 'node:net';
import type { Ingress } from './classes.js';
import { LEGACY_CLASS_ANNOTATION } from './classes.js';

export interface FieldProblem {
  field: string;
  message: string;
}

const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);
const WILDCARD_SUBDOMAIN = new RegExp(`^\\*\\.${DNS_LABEL}(\\.${DNS_LABEL})*$`);
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SERVICE_NAME = new RegExp(`^${DNS_LABEL}$`);
const INVALID_PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_PATH_SUFFIXES = ['/..', '/.'];

/** The subset of the schema Weft checks for unknown fields: a tree of known field names. */
type Shape = { [field: string]: Shape | [Shape] | true };
const BACKEND: Shape = {
  service: { name: true, port: { name: true, number: true } },
  resource: { apiGroup: true, kind: true, name: true },
};
const INGRESS_SHAPE: Shape = {
  apiVersion: true,
  kind: true,
  metadata: true,
  spec: {
    ingressClassName: true,
    defaultBackend: BACKEND,
    tls: [{ hosts: true, secretName: true }],
    rules: [{ host: true, http: { paths: [{ path: true, pathType: true, backend: BACKEND }] } }],
  },
  status: true,
};

function unknownFields(value: unknown, shape: Shape, at: string, out: string[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const field = at ? `${at}.${key}` : key;
    const known = shape[key];
    if (known === undefined) out.push(field);
    else if (Array.isArray(known)) {
      if (Array.isArray(child)) child.forEach((item, i) => unknownFields(item, known[0], `${field}[${i}]`, out));
    } else if (known !== true) unknownFields(child, known, field, out);
  }
}

function hostProblems(host: string, field: string): FieldProblem[] {
  if (host.length > 253) return [{ field, message: `"${host}": must be no more than 253 characters` }];
  if (isIP(host)) return [{ field, message: `"${host}": must be a DNS name, not an IP address` }];
  if (host.includes('*')) {
    return WILDCARD_SUBDOMAIN.test(host) ? [] : [{ field, message: `"${host}": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain (lower case)` }];
  }
  return DNS_SUBDOMAIN.test(host) ? [] : [{ field, message: `"${host}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` }];
}

type Backend = NonNullable<NonNullable<Ingress['spec']>['defaultBackend']>;

function backendProblems(b: Backend, field: string): FieldProblem[] {
  if (b.service && b.resource) return [{ field, message: 'cannot set both resource and service backends' }];
  if (b.resource) return b.resource.kind && b.resource.name ? [] : [{ field: `${field}.resource`, message: 'kind and name are required' }];
  if (!b.service) return [{ field, message: 'resource or service backend is required' }];
  const out: FieldProblem[] = [];
  if (!b.service.name) out.push({ field: `${field}.service.name`, message: 'required' });
  else if (!SERVICE_NAME.test(b.service.name)) out.push({ field: `${field}.service.name`, message: `"${b.service.name}": a Service name must be a DNS-1035 label` });
  const port = b.service.port ?? {};
  const hasName = Boolean(port.name);
  const hasNumber = port.number !== undefined && port.number !== 0;
  if (hasName && hasNumber) out.push({ field: `${field}.service.port`, message: 'cannot set both port name & port number' });
  else if (hasName) {
    if (!PORT_NAME.test(port.name!) || port.name!.length > 15 || !/[a-z]/.test(port.name!) || port.name!.includes('--')) {
      out.push({ field: `${field}.service.port.name`, message: `"${port.name}": must be an IANA_SVC_NAME (at most 15 characters, lower case alphanumerics and '-', at least one letter)` });
    }
  } else if (hasNumber) {
    if (!Number.isInteger(port.number) || port.number! < 1 || port.number! > 65535) out.push({ field: `${field}.service.port.number`, message: `${port.number}: must be between 1 and 65535, inclusive` });
  } else out.push({ field: `${field}.service.port`, message: 'port name or number is required' });
  return out;
}

/** Every reason the API server would refuse this Ingress; empty when it is valid. */
export function validateIngress(ing: Ingress): FieldProblem[] {
  const out: FieldProblem[] = [];
  const unknown: string[] = [];
  const object: Record<string, unknown> = { ...ing };
  delete object.source;
  unknownFields(object, INGRESS_SHAPE, '', unknown);
  for (const field of unknown) out.push({ field, message: 'unknown field; the object is ignored' });
  const spec = ing.spec ?? {};
  if (spec.ingressClassName !== undefined && ing.metadata.annotations?.[LEGACY_CLASS_ANNOTATION] !== undefined) {
    out.push({ field: `metadata.annotations["${LEGACY_CLASS_ANNOTATION}"]`, message: 'can not be set when the class field is also set' });
  }
  if (!spec.rules?.length && !spec.defaultBackend) out.push({ field: 'spec', message: 'either `defaultBackend` or `rules` must be specified' });
  if (spec.defaultBackend) out.push(...backendProblems(spec.defaultBackend, 'spec.defaultBackend'));
  (spec.tls ?? []).forEach((tls, i) => (tls.hosts ?? []).forEach((h, j) => out.push(...hostProblems(h, `spec.tls[${i}].hosts[${j}]`))));
  (spec.rules ?? []).forEach((rule, i) => {
    if (rule.host) out.push(...hostProblems(rule.host, `spec.rules[${i}].host`));
    if (!rule.http) return;
    if (!rule.http.paths?.length) out.push({ field: `spec.rules[${i}].http.paths`, message: 'required' });
    (rule.http.paths ?? []).forEach((p, j) => {
      const field = `spec.rules[${i}].http.paths[${j}]`;
      const path = p.path ?? '';
      if (p.pathType === 'Exact' || p.pathType === 'Prefix') {
        if (!path.startsWith('/')) out.push({ field: `${field}.path`, message: `"${path}": must be an absolute path` });
        for (const seq of INVALID_PATH_SEQUENCES) if (path.includes(seq)) out.push({ field: `${field}.path`, message: `"${path}": must not contain '${seq}'` });
        for (const suffix of INVALID_PATH_SUFFIXES) if (path.endsWith(suffix)) out.push({ field: `${field}.path`, message: `"${path}": cannot end with '${suffix}'` });
      } else if (path && !path.startsWith('/')) {
        out.push({ field: `${field}.path`, message: `"${path}": must be an absolute path` });
      }
      out.push(...backendProblems(p.backend, `${field}.backend`));
    });
  });
  return out;
}
