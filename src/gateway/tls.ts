// The TLS side of Gateway listeners: certificateRefs → checked certificates (SDS Secrets), and
// `spec.tls.frontend` client certificate validation (CA bundles from ConfigMaps), with the listener
// conditions the spec names (ResolvedRefs False InvalidCertificateRef / RefNotPermitted /
// InvalidCACertificateRef / InvalidCACertificateKind, Accepted False NoValidCACertificate).
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { ClientValidationIR, TlsCertificateIR, TlsTrustIR } from '../ir/model.js';
import type { Inputs, Obj } from '../sources/kinds.js';
import { caBundleFromConfigMap, keyPairFromSecret } from '../tls/certificates.js';
import { referenceGranted } from './backends.js';

type ListenerSpec = Pick<IGateway['spec']['listeners'][number], 'tls'>;

/** A listener's reference problem: the ResolvedRefs reason and a message naming the ref. */
export interface RefProblem {
  reason: 'InvalidCertificateRef' | 'RefNotPermitted' | 'InvalidCACertificateRef' | 'InvalidCACertificateKind' | 'InvalidClientCertificateRef';
  message: string;
}

export interface ListenerTlsResolution {
  certificates: TlsCertificateIR[];
  problems: RefProblem[];
}

/** The SDS Secret name of a Kubernetes Secret: stable, so a changed Secret is a rotation. */
/** A CA certificate reference's ConfigMap → its PEM bundle, or the InvalidCACertificateRef problem (absent, unusable). */
export function caBundleOfConfigMap(cm: Parameters<typeof caBundleFromConfigMap>[0] | undefined, what: string): { bundle: string } | RefProblem {
  if (!cm) return { reason: 'InvalidCACertificateRef', message: `${what}: ConfigMap not found` };
  const bundle = caBundleFromConfigMap(cm);
  if ('error' in bundle) return { reason: 'InvalidCACertificateRef', message: `${what}: ConfigMap ${bundle.error}` };
  return { bundle: bundle.ok.trim() };
}

export function secretSdsName(namespace: string, name: string): string {
  return `secret/${namespace}/${name}`;
}

export function configMapSdsName(refs: Array<{ namespace: string; name: string }>): string {
  return `ca/${refs.map((r) => `${r.namespace}/${r.name}`).join('+')}`;
}

/** Looks up Secrets and ConfigMaps by namespace/name once per translation. */
export class TlsObjects {
  private readonly secrets = new Map<string, Inputs['secrets'][number]>();
  private readonly configMaps = new Map<string, Inputs['configMaps'][number]>();

  constructor(readonly inputs: Inputs) {
    for (const s of inputs.secrets) this.secrets.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    for (const c of inputs.configMaps) this.configMaps.set(`${c.metadata.namespace}/${c.metadata.name}`, c);
  }

  secret(namespace: string, name: string): Inputs['secrets'][number] | undefined {
    return this.secrets.get(`${namespace}/${name}`);
  }

  configMap(namespace: string, name: string): Inputs['configMaps'][number] | undefined {
    return this.configMaps.get(`${namespace}/${name}`);
  }

  /** Whether a Gateway (or ListenerSet) in `fromNamespace` may refer to a `kind` object in `toNamespace` (ReferenceGrant). */
  mayRefer(fromKind: 'Gateway' | 'ListenerSet', fromNamespace: string, kind: string, toNamespace: string, toName: string): boolean {
    return referenceGranted(this.inputs.referenceGrants, { kind: fromKind, namespace: fromNamespace }, '', kind, toNamespace, toName);
  }
}

type SecretRef = { group?: string; kind?: string; namespace?: string; name: string };

/**
 * A Gateway's reference to a kubernetes.io/tls Secret → its certificate and key (an SDS Secret), or the problem:
 * `invalid` for an unsupported kind, a missing or unusable Secret; RefNotPermitted across namespaces without a grant.
 */
function resolveKeyPairRef(gwNs: string, ref: SecretRef, objects: TlsObjects, what: string, invalid: RefProblem['reason'], fromKind: 'Gateway' | 'ListenerSet' = 'Gateway'): TlsCertificateIR | RefProblem {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Secret';
  const ns = ref.namespace ?? gwNs;
  if (group !== '' || kind !== 'Secret') return { reason: invalid, message: `${what}: kind ${group ? `${group}/` : ''}${kind} is not supported (only core Secret)` };
  if (ns !== gwNs && !objects.mayRefer(fromKind, gwNs, 'Secret', ns, ref.name)) {
    return { reason: 'RefNotPermitted', message: `${what}: Secret in namespace ${ns} is not permitted by any ReferenceGrant there` };
  }
  const secret = objects.secret(ns, ref.name);
  if (!secret) return { reason: invalid, message: `${what}: Secret not found` };
  const pair = keyPairFromSecret(secret);
  if ('error' in pair) return { reason: invalid, message: `${what}: Secret ${pair.error}` };
  return { name: secretSdsName(ns, ref.name), certificateChain: pair.ok.certificateChain, privateKey: pair.ok.privateKey };
}

/**
 * Resolves the certificateRefs of a terminating listener; each bad ref is a problem, good ones serve. References
 * are the listener's owner's (GEP-1713: a ListenerSet's own namespace, and ReferenceGrants from ListenerSets).
 */
export function resolveCertificates(owner: { kind: 'Gateway' | 'ListenerSet'; namespace: string }, spec: ListenerSpec, objects: TlsObjects): ListenerTlsResolution {
  const gwNs = owner.namespace;
  const certificates: TlsCertificateIR[] = [];
  const problems: RefProblem[] = [];
  for (const ref of spec.tls?.certificateRefs ?? []) {
    const resolved = resolveKeyPairRef(gwNs, ref, objects, `certificateRef ${ref.namespace ?? gwNs}/${ref.name}`, 'InvalidCertificateRef', owner.kind);
    if ('reason' in resolved) problems.push(resolved);
    else certificates.push(resolved);
  }
  return { certificates, problems };
}

/**
 * `spec.tls.backend.clientCertificateRef` (GatewayBackendClientCertificate): the certificate Envoy presents to
 * backends it reaches over TLS for this Gateway's routes, or the Gateway's ResolvedRefs problem; undefined when
 * the Gateway names none.
 */
export function resolveBackendClientCertificate(gateway: Obj<IGateway>, objects: TlsObjects): TlsCertificateIR | RefProblem | undefined {
  const ref = gateway.spec.tls?.backend?.clientCertificateRef;
  if (!ref) return undefined;
  const gwNs = gateway.metadata.namespace ?? 'default';
  return resolveKeyPairRef(gwNs, ref, objects, `spec.tls.backend.clientCertificateRef ${ref.namespace ?? gwNs}/${ref.name}`, 'InvalidClientCertificateRef');
}

export interface FrontendValidationResolution {
  validation?: ClientValidationIR;
  problems: RefProblem[];
  /** Every CA ref is invalid: the listener is Accepted False NoValidCACertificate. */
  noValidCa: boolean;
}

/**
 * `spec.tls.frontend`: the per-port entry for the listener's port overrides `default`. Applies to HTTPS
 * listeners. Several valid CA refs are joined into one bundle (implementation-specific support).
 */
export function resolveFrontendValidation(gateway: Obj<IGateway>, port: number, objects: TlsObjects): FrontendValidationResolution {
  const frontend = gateway.spec.tls?.frontend;
  if (!frontend) return { problems: [], noValidCa: false };
  const config = frontend.perPort?.find((p) => p.port === port)?.tls ?? frontend.default;
  const validation = config?.validation;
  if (!validation) return { problems: [], noValidCa: false };
  const gwNs = gateway.metadata.namespace ?? 'default';
  const problems: RefProblem[] = [];
  const bundles: string[] = [];
  const used: Array<{ namespace: string; name: string }> = [];
  for (const ref of validation.caCertificateRefs) {
    const ns = ref.namespace ?? gwNs;
    const what = `caCertificateRef ${ns}/${ref.name}`;
    if ((ref.group ?? '') !== '' || ref.kind !== 'ConfigMap') {
      problems.push({ reason: 'InvalidCACertificateKind', message: `${what}: kind ${ref.group ? `${ref.group}/` : ''}${ref.kind} is not supported (only core ConfigMap)` });
      continue;
    }
    if (ns !== gwNs && !objects.mayRefer('Gateway', gwNs, 'ConfigMap', ns, ref.name)) {
      problems.push({ reason: 'RefNotPermitted', message: `${what}: ConfigMap in namespace ${ns} is not permitted by any ReferenceGrant there` });
      continue;
    }
    const ca = caBundleOfConfigMap(objects.configMap(ns, ref.name), what);
    if (!('bundle' in ca)) {
      problems.push(ca);
      continue;
    }
    bundles.push(ca.bundle);
    used.push({ namespace: ns, name: ref.name });
  }
  if (bundles.length === 0) return { problems, noValidCa: true };
  const trust: TlsTrustIR = { name: configMapSdsName(used), caCertificates: `${bundles.join('\n')}\n` };
  return { validation: { trust, mode: validation.mode === 'AllowInsecureFallback' ? 'AllowInsecureFallback' : 'AllowValidOnly' }, problems, noValidCa: false };
}
