// BackendTLSPolicy (gateway.networking.k8s.io/v1): TLS from Envoy to a Service's endpoints, the backend's
// certificate checked against CA bundles from ConfigMaps (or the system's), its name against `hostname`
// or `subjectAltNames`; and the policy's status per ancestor Gateway, with the reasons the spec names.
import type { IBackendTLSPolicy } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/BackendTLSPolicy';
import type { IServicePort } from 'kubernetes-models/v1/ServicePort';
import type { UpstreamTlsIR } from '../ir/model.js';
import type { Inputs, Obj } from '../sources/kinds.js';
import { condition, CONTROLLER_NAME, GATEWAY_GROUP, generationOf, type Condition, type ObjectStatus } from './conditions.js';
import { compareRouteAge } from './grpcroute.js';
import { caBundleOfConfigMap } from './tls.js';

type Policy = Obj<IBackendTLSPolicy>;

/** What a policy resolves to: the upstream TLS to apply, or why none can be (then connections must fail). */
interface Resolved {
  policy: Policy;
  /** Absent when no CA certificate is valid: the backend gets no endpoints, so requests answer 503. */
  tls?: UpstreamTlsIR;
  accepted: Condition;
  resolvedRefs: Condition;
}

function resolvePolicy(policy: Policy, configMaps: Map<string, Inputs['configMaps'][number]>): Resolved {
  const gen = generationOf(policy.metadata);
  const ns = policy.metadata.namespace ?? 'default';
  const v = policy.spec.validation;
  const refs = v.caCertificateRefs ?? [];
  const problems: Array<{ reason: string; message: string }> = [];
  const bundles: string[] = [];
  const used: string[] = [];
  for (const ref of refs) {
    const what = `caCertificateRef ${ns}/${ref.name}`;
    if ((ref.group ?? '') !== '' || ref.kind !== 'ConfigMap') {
      problems.push({ reason: 'InvalidKind', message: `${what}: kind ${ref.group ? `${ref.group}/` : ''}${ref.kind} is not supported (only core ConfigMap)` });
      continue;
    }
    const ca = caBundleOfConfigMap(configMaps.get(`${ns}/${ref.name}`), what);
    if (!('bundle' in ca)) {
      problems.push(ca);
      continue;
    }
    bundles.push(ca.bundle);
    used.push(`${ns}/${ref.name}`);
  }
  const resolvedRefs = problems.length
    ? condition('ResolvedRefs', false, problems[0].reason, problems.map((p) => p.message).join('; '), gen)
    : condition('ResolvedRefs', true, 'ResolvedRefs', 'All references resolved', gen);
  const subjectAltNames = (v.subjectAltNames ?? []).map((s) => (s.type === 'URI' ? { type: 'URI' as const, value: s.uri ?? '' } : { type: 'Hostname' as const, value: s.hostname ?? '' }));
  const base = { sni: v.hostname, subjectAltNames };
  if (refs.length === 0) {
    if (v.wellKnownCACertificates !== 'System') {
      const got = v.wellKnownCACertificates ? `wellKnownCACertificates ${v.wellKnownCACertificates} is not supported (only System)` : 'neither caCertificateRefs nor wellKnownCACertificates is set';
      return { policy, accepted: condition('Accepted', false, 'Invalid', got, gen), resolvedRefs };
    }
    return { policy, tls: base, accepted: condition('Accepted', true, 'Accepted', 'Policy accepted', gen), resolvedRefs };
  }
  if (bundles.length === 0) {
    return { policy, accepted: condition('Accepted', false, 'NoValidCACertificate', 'no valid CA certificate: connections to the backend fail', gen), resolvedRefs };
  }
  const tls: UpstreamTlsIR = { ...base, trust: { name: `ca/${used.join('+')}`, caCertificates: `${bundles.join('\n')}\n` } };
  return { policy, tls, accepted: condition('Accepted', true, 'Accepted', 'Policy accepted', gen), resolvedRefs };
}

function policyKey(p: Policy): string {
  return `${p.metadata.namespace}/${p.metadata.name}`;
}

/** The policies of one translation: which applies to each Service port, and their statuses. */
export class BackendTlsPolicies {
  /** `ns/service` or `ns/service#sectionName` → the winning policy's resolution. */
  private readonly byTarget = new Map<string, Resolved>();
  private readonly resolved = new Map<string, Resolved>();
  /** Policies that lost a target to an older one: Accepted False Conflicted. */
  private readonly conflicted = new Map<string, string>();
  /** Policies whose target Service does not exist. */
  private readonly missingTarget = new Map<string, string>();

  constructor(inputs: Inputs) {
    // Without policies (the common case) nothing to index: no key per ConfigMap and Service.
    if (inputs.backendTlsPolicies.length === 0) return;
    const configMaps = new Map(inputs.configMaps.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c]));
    const services = new Set(inputs.services.map((s) => `${s.metadata.namespace}/${s.metadata.name}`));
    // The spec's precedence: the older policy, then namespace/name.
    const policies = [...inputs.backendTlsPolicies].sort((a, b) => compareRouteAge(a.metadata, b.metadata));
    for (const p of policies) {
      const r = resolvePolicy(p, configMaps);
      this.resolved.set(policyKey(p), r);
      for (const t of p.spec.targetRefs) {
        if ((t.group ?? '') !== '' || t.kind !== 'Service') {
          this.missingTarget.set(policyKey(p), `targetRef ${t.group ? `${t.group}/` : ''}${t.kind} ${t.name}: only core Services are supported`);
          continue;
        }
        const service = `${p.metadata.namespace}/${t.name}`;
        if (!services.has(service)) {
          this.missingTarget.set(policyKey(p), `targetRef Service ${service} not found`);
          continue;
        }
        const key = t.sectionName ? `${service}#${t.sectionName}` : service;
        const holder = this.byTarget.get(key);
        if (holder) this.conflicted.set(policyKey(p), `Service ${service}${t.sectionName ? ` port ${t.sectionName}` : ''} is already targeted by BackendTLSPolicy ${policyKey(holder.policy)}`);
        else this.byTarget.set(key, r);
      }
    }
  }

  /** The upstream TLS for a Service port ('none' when a policy applies but has no valid CA), or undefined. */
  forServicePort(namespace: string, service: string, port: IServicePort): UpstreamTlsIR | 'none' | undefined {
    if (this.byTarget.size === 0) return undefined; // no key strings built per Service port for nothing
    const r = (port.name ? this.byTarget.get(`${namespace}/${service}#${port.name}`) : undefined) ?? this.byTarget.get(`${namespace}/${service}`);
    if (!r || this.conflicted.has(policyKey(r.policy))) return undefined;
    if (r.accepted.status === 'False') return 'none';
    return r.tls;
  }

  /**
   * Statuses: one ancestor entry per Weft Gateway whose routes reach a targeted Service (`ancestorsOf`
   * gives them), each with Accepted and ResolvedRefs.
   */
  statuses(ancestorsOf: (namespace: string, service: string) => Array<{ namespace: string; name: string }>): ObjectStatus[] {
    const out: ObjectStatus[] = [];
    for (const [key, r] of this.resolved) {
      const p = r.policy;
      const gen = generationOf(p.metadata);
      let accepted = r.accepted;
      if (this.conflicted.has(key)) accepted = condition('Accepted', false, 'Conflicted', this.conflicted.get(key)!, gen);
      else if (this.missingTarget.has(key)) accepted = condition('Accepted', false, 'TargetNotFound', this.missingTarget.get(key)!, gen);
      const gateways = new Map<string, { namespace: string; name: string }>();
      for (const t of p.spec.targetRefs) for (const g of ancestorsOf(p.metadata.namespace ?? 'default', t.name)) gateways.set(`${g.namespace}/${g.name}`, g);
      const ancestors = [...gateways.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)).map((g) => ({
        ancestorRef: { group: GATEWAY_GROUP, kind: 'Gateway', namespace: g.namespace, name: g.name },
        controllerName: CONTROLLER_NAME,
        conditions: [accepted, r.resolvedRefs],
      }));
      out.push({ kind: 'BackendTLSPolicy', namespace: p.metadata.namespace, name: p.metadata.name, source: p.source, status: { ancestors } });
    }
    return out;
  }
}
