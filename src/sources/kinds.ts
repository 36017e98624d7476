// The kinds Weft reads, each with its schema validator (the Gateway API kinds': compiled from their CRDs at
// build time; the others': their published model's), and the typed set of inputs the translators take.
import type { IGatewayClass } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass';
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IListenerSet } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ListenerSet';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IGRPCRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GRPCRoute';
import type { IReferenceGrant } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1/ReferenceGrant';
import { validate as objectMetaValidator } from '@kubernetes-models/apimachinery/_schemas/IoK8sApimachineryPkgApisMetaV1ObjectMeta';
import { runValidateFunc } from '@kubernetes-models/validate';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { Namespace, type INamespace } from 'kubernetes-models/v1/Namespace';
import { EndpointSlice, type IEndpointSlice } from 'kubernetes-models/discovery.k8s.io/v1/EndpointSlice';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { ITLSRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/TLSRoute';
import type { IBackendTLSPolicy } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/BackendTLSPolicy';
import { Ingress, type IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { IngressClass, type IIngressClass } from 'kubernetes-models/networking.k8s.io/v1/IngressClass';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ByNamespace } from './by-namespace.js';
import { fieldSchemaOf, unknownFieldsIn, type FieldSchema } from './unknown-fields.js';
import { crdValidators, type CrdValidator } from '../generated/gateway-validators.js';
import { describeObject, type Manifest, type ManifestProblem, type ObjectMeta, type Source } from './manifests.js';

/** A typed object as read: metadata always has a name, and it remembers its file. */
export type Obj<T extends { metadata?: unknown }> = Omit<T, 'metadata'> & { metadata: ObjectMeta; source: Source };

export interface Inputs {
  gatewayClasses: Obj<IGatewayClass>[];
  gateways: Obj<IGateway>[];
  /** Listeners of a Gateway defined apart from it (GEP-1713), attached when the Gateway's allowedListeners allows. */
  listenerSets: Obj<IListenerSet>[];
  httpRoutes: Obj<IHTTPRoute>[];
  grpcRoutes: Obj<IGRPCRoute>[];
  referenceGrants: Obj<IReferenceGrant>[];
  services: Obj<IService>[];
  endpointSlices: Obj<IEndpointSlice>[];
  namespaces: Obj<INamespace>[];
  /** Certificates (type kubernetes.io/tls) and anything else; readers check the type they need. */
  secrets: Obj<ISecret>[];
  /** CA bundles (key ca.crt) for client and backend certificate validation. */
  configMaps: Obj<IConfigMap>[];
  tlsRoutes: Obj<ITLSRoute>[];
  backendTlsPolicies: Obj<IBackendTLSPolicy>[];
  ingresses: Obj<IIngress>[];
  ingressClasses: Obj<IIngressClass>[];
  /** Standalone endpoints for L7 policy (labels, namespace, status.podIP); src/l7policy validates them. */
  pods: Obj<PolicyObject>[];
  /** CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, NetworkPolicy; src/l7policy validates them. */
  networkPolicies: Obj<PolicyObject>[];
}

/** Kinds whose fields src/l7policy checks itself (Cilium publishes no model package). */
export interface PolicyObject {
  apiVersion: string;
  kind: string;
  metadata?: unknown;
  [field: string]: unknown;
}

class CheckedByL7Policy {
  validate(): void {}
}

export function emptyInputs(): Inputs {
  return { gatewayClasses: [], gateways: [], listenerSets: [], httpRoutes: [], grpcRoutes: [], referenceGrants: [], services: [], endpointSlices: [], namespaces: [], secrets: [], configMaps: [], tlsRoutes: [], backendTlsPolicies: [], ingresses: [], ingressClasses: [], pods: [], networkPolicies: [] };
}

interface Validatable {
  validate(): void;
}

interface KindEntry {
  /**
   * A Gateway API kind: its CRD's validators (scripts/gen-gateway-validators.js). `strict` also rejects unknown
   * fields, in the same pass; only when it fails are `plain` and the unknown-field walk run, for the message.
   */
  crd?: { plain: CrdValidator; strict: CrdValidator };
  /** Any other kind: a model class of kubernetes-models; only its prototype's `validate` (the compiled schema) is used. */
  model?: { prototype: Validatable };
  into: keyof Inputs;
  namespaced: boolean;
  /** Its CRD schema for the unknown-field walk, compiled when an object first fails `crd.strict`. */
  fields?: FieldSchema;
}

/** The models' compiled ObjectMeta schema, as the model validators call it (with the path of the data). */
const validateObjectMeta = objectMetaValidator as unknown as ((data: unknown, at: { instancePath: string }) => boolean) & { errors?: SchemaError[] | null };

/** An object's metadata checked as ObjectMeta, its errors' paths from the object's root. */
const checkObjectMeta = Object.assign(
  (metadata: unknown): boolean => {
    const valid = validateObjectMeta(metadata, { instancePath: '/metadata' });
    checkObjectMeta.errors = validateObjectMeta.errors;
    return valid;
  },
  { errors: null as SchemaError[] | null | undefined },
);

/** A Gateway API kind's validators, generated from its CRD. */
function crd(key: string): KindEntry['crd'] {
  const validators = crdValidators[key];
  if (!validators) throw new Error(`no generated validator for ${key}: rebuild (scripts/gen-types.sh)`);
  return validators;
}

/** A row of the table below: `crd: true` marks a Gateway API kind, whose validators are found by the row's key. */
type KindRow = Omit<KindEntry, 'crd'> & { crd?: true };

const KIND_ROWS: Record<string, KindRow> = {
  'gateway.networking.k8s.io/v1 GatewayClass': { crd: true, into: 'gatewayClasses', namespaced: false },
  'gateway.networking.k8s.io/v1 Gateway': { crd: true, into: 'gateways', namespaced: true },
  'gateway.networking.k8s.io/v1 ListenerSet': { crd: true, into: 'listenerSets', namespaced: true },
  'gateway.networking.k8s.io/v1 HTTPRoute': { crd: true, into: 'httpRoutes', namespaced: true },
  'gateway.networking.k8s.io/v1 GRPCRoute': { crd: true, into: 'grpcRoutes', namespaced: true },
  'gateway.networking.k8s.io/v1beta1 ReferenceGrant': { crd: true, into: 'referenceGrants', namespaced: true },
  'gateway.networking.k8s.io/v1 ReferenceGrant': { crd: true, into: 'referenceGrants', namespaced: true },
  'v1 Service': { model: Service, into: 'services', namespaced: true },
  'v1 Namespace': { model: Namespace, into: 'namespaces', namespaced: false },
  'discovery.k8s.io/v1 EndpointSlice': { model: EndpointSlice, into: 'endpointSlices', namespaced: true },
  'v1 Secret': { model: Secret, into: 'secrets', namespaced: true },
  'v1 ConfigMap': { model: ConfigMap, into: 'configMaps', namespaced: true },
  'gateway.networking.k8s.io/v1 TLSRoute': { crd: true, into: 'tlsRoutes', namespaced: true },
  'gateway.networking.k8s.io/v1 BackendTLSPolicy': { crd: true, into: 'backendTlsPolicies', namespaced: true },
  'networking.k8s.io/v1 Ingress': { model: Ingress, into: 'ingresses', namespaced: true },
  'networking.k8s.io/v1 IngressClass': { model: IngressClass, into: 'ingressClasses', namespaced: false },
  'v1 Pod': { model: CheckedByL7Policy, into: 'pods', namespaced: true },
  'networking.k8s.io/v1 NetworkPolicy': { model: NetworkPolicy, into: 'networkPolicies', namespaced: true },
  'cilium.io/v2 CiliumNetworkPolicy': { model: CheckedByL7Policy, into: 'networkPolicies', namespaced: true },
  'cilium.io/v2 CiliumClusterwideNetworkPolicy': { model: CheckedByL7Policy, into: 'networkPolicies', namespaced: false },
};

const KINDS: Record<string, KindEntry> = Object.fromEntries(Object.entries(KIND_ROWS).map(([key, { crd: fromCrd, ...row }]) => [key, fromCrd ? { ...row, crd: crd(key) } : row]));

export const SUPPORTED_KINDS = Object.keys(KINDS);

/** apiVersion → kind → entry: looked up without building the "apiVersion kind" string for every object. */
const KINDS_BY_VERSION = new Map<string, Map<string, KindEntry>>();
for (const [key, entry] of Object.entries(KINDS)) {
  const [apiVersion, kind] = key.split(' ');
  if (!KINDS_BY_VERSION.has(apiVersion)) KINDS_BY_VERSION.set(apiVersion, new Map());
  KINDS_BY_VERSION.get(apiVersion)!.set(kind, entry);
}

/** "/spec/rules/0/matches/1/path" → "spec.rules[0].matches[1].path" */
export function jsonPointerToField(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

interface SchemaError {
  instancePath?: string;
  schemaPath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** The first schema error, as a problem naming its field. */
function schemaProblem(m: Manifest, source: Source, metadata: ObjectMeta, errors: SchemaError[] | null | undefined, fallback = 'invalid'): ManifestProblem {
  const object = describeObject(m.kind, metadata);
  const first = errors?.[0];
  if (!errors || !first) return { source, object, message: fallback };
  // A field that may be one of several things (anyOf) fails each: all are named (e.g. format "ipv4" or "ipv6").
  const anyOf = first.schemaPath?.match(/^(.*\/anyOf\/)\d+\//)?.[1];
  const alternatives = anyOf ? errors.filter((e) => e.instancePath === first.instancePath && e.schemaPath?.startsWith(anyOf)) : [first];
  const detail = alternatives.map(describeSchemaError).join(' or ');
  return { source, object, field: first.instancePath ? jsonPointerToField(first.instancePath) : undefined, message: detail || fallback };
}

function describeSchemaError(e: SchemaError): string | undefined {
  const allowed = e.params?.allowedValues;
  return Array.isArray(allowed) ? `${e.message} (${allowed.join(', ')})` : e.message;
}

/**
 * The errors of a validator that failed on `data`, with the messages the model validators give (ajv-i18n's English,
 * applied by runValidateFunc; e.g. "must NOT be longer than 253 characters"). Runs the validator again: only for
 * invalid objects.
 */
function explained(validator: ((data: unknown) => boolean) & { errors?: SchemaError[] | null }, data: unknown): SchemaError[] | undefined {
  try {
    runValidateFunc(validator as Parameters<typeof runValidateFunc>[0], data);
  } catch (err) {
    return (err as { errors?: SchemaError[] }).errors;
  }
  return validator.errors ?? undefined;
}

type Classified = { into: keyof Inputs; object: Obj<{ metadata?: unknown }> } | { problem: ManifestProblem };

/**
 * Remembers each manifest's classification (schema validation is most of its cost). Keyed by the manifest
 * object: manifests are never mutated, and a reload gets the same objects back for every file whose
 * content did not change (ManifestFileCache), so only new or edited documents are validated again.
 */
export class ClassificationCache {
  private readonly byManifest = new WeakMap<Manifest, Classified>();

  classify(m: Manifest): Classified {
    let c = this.byManifest.get(m);
    if (!c) this.byManifest.set(m, (c = classifyOne(m)));
    return c;
  }
}

function classifyOne(m: Manifest): Classified {
  const entry = KINDS_BY_VERSION.get(m.apiVersion)?.get(m.kind);
  if (!entry) {
    return { problem: { source: m.source, object: describeObject(m.kind, m.metadata), message: `unsupported kind ${m.apiVersion} ${m.kind}; Weft reads ${SUPPORTED_KINDS.join(', ')}` } };
  }
  const source = m.source;
  // The object as read, with its metadata's namespace defaulted (namespaced kinds) or dropped (cluster-scoped).
  // Most objects need neither, and then the manifest itself is the object (manifests are never mutated); the
  // others are copied with their own metadata. Its `source` key is neither in the schemas (none closes the top
  // level) nor an unknown field (unknownFields knows it).
  let object = m as Record<string, unknown>;
  let metadata = m.metadata;
  if (entry.namespaced ? metadata.namespace == null : Object.hasOwn(metadata, 'namespace')) {
    metadata = { ...metadata };
    if (entry.namespaced) metadata.namespace ??= 'default';
    else delete metadata.namespace;
    object = { ...m, metadata };
  }
  try {
    // The schema check on the object itself: constructing the model would deep-copy every object first (a
    // third of classification's cost), and the compiled schemas neither change the data nor add defaults.
    if (entry.model) entry.model.prototype.validate.call(object);
  } catch (err) {
    return { problem: schemaProblem(m, source, metadata, (err as { errors?: SchemaError[] }).errors, (err as Error).message) };
  }
  if (!entry.crd) return { into: entry.into, object: object as Obj<{ metadata?: unknown }> };
  // ObjectMeta as the models checked it (a CRD's schema leaves metadata to the apiserver).
  if (!checkObjectMeta(metadata)) return { problem: schemaProblem(m, source, metadata, explained(checkObjectMeta, metadata)) };
  if (entry.crd.strict(object)) return { into: entry.into, object: object as Obj<{ metadata?: unknown }> };
  // Invalid: against the schema (its first error), or for unknown fields (all of them).
  if (!entry.crd.plain(object)) return { problem: schemaProblem(m, source, metadata, explained(entry.crd.plain, object)) };
  entry.fields ??= fieldSchemaOf(m.apiVersion, m.kind);
  const unknown = entry.fields ? unknownFieldsIn(entry.fields, object) : [];
  if (unknown.length > 0) {
    const more = unknown.length > 1 ? ` (and ${unknown.slice(1).join(', ')})` : '';
    return { problem: { source, object: describeObject(m.kind, metadata), field: unknown[0], message: `unknown field${more}; the object is ignored` } };
  }
  return { into: entry.into, object: object as Obj<{ metadata?: unknown }> };
}

/**
 * Sorts manifests into typed inputs. An object of an unknown kind, or one that fails its schema, is left
 * out with a problem naming it; nothing else is affected. Namespaced objects default to "default".
 * `cache`: classifications of earlier calls; the result is the same with or without it.
 */
export function classifyManifests(manifests: Manifest[], cache?: ClassificationCache): { inputs: Inputs; problems: ManifestProblem[] } {
  const inputs = emptyInputs();
  const problems: ManifestProblem[] = [];
  /** into → namespace ('' for cluster-scoped) → name → where it was first defined. */
  const seen = new Map<keyof Inputs, ByNamespace<Source>>();
  for (const m of manifests) {
    const c = cache ? cache.classify(m) : classifyOne(m);
    if ('problem' in c) {
      problems.push(c.problem);
      continue;
    }
    const { metadata, source } = c.object;
    let defined = seen.get(c.into);
    if (!defined) seen.set(c.into, (defined = new ByNamespace()));
    const earlier = defined.claim(metadata.namespace ?? '', metadata.name, source);
    if (earlier) {
      problems.push({ source, object: describeObject(m.kind, metadata), message: `defined twice (also at ${earlier.file}:${earlier.line}); this one is ignored` });
      continue;
    }
    (inputs[c.into] as unknown[]).push(c.object);
  }
  return { inputs, problems };
}
