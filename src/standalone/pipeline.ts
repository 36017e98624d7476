// Standalone mode's pipeline: a directory of manifests → problems, statuses, IR and xDS resources.
import { BackendResolver } from '../gateway/backends.js';
import { translateGatewayApi } from '../gateway/translate.js';
import type { GatewayAddressFor } from '../gateway/listeners.js';
import type { ObjectStatus } from '../gateway/conditions.js';
import { ingressOptions, type IngressOptions } from '../ingress/options.js';
import { gatewaySockets } from '../ingress/sockets.js';
import { translateIngresses, withIngressListeners } from '../ingress/translate.js';
import type { ProxyIR } from '../ir/model.js';
import { GatewayTranslationCache } from '../gateway/translation-cache.js';
import { ClassificationCache, classifyManifests } from '../sources/kinds.js';
import { translateL7Policy, type L7Options, type L7Translation } from '../l7policy/translate.js';
import type { RawPolicyObject } from '../l7policy/parse.js';
import { loadManifestDir, parseManifests, type Manifest, type ManifestFileCache, type ManifestProblem } from '../sources/manifests.js';
import type { Resource } from '../xds/resource.js';
import { XdsEncodingCache } from '../xds/translator/route-config-bytes.js';
import { translateIrToXds } from '../xds/translator/translate-ir.js';
import type { AccessLogServiceTarget } from '../xds/translator/access-log-service.js';

export interface Translation {
  problems: ManifestProblem[];
  statuses: ObjectStatus[];
  ir: ProxyIR;
  resources: Resource[];
  /** L7 policy: the model, identities and the node proxy's per-endpoint listeners. */
  l7?: L7Translation;
}

/**
 * What a translation may reuse from earlier ones (`weft run` keeps one across reloads): per-manifest
 * classification, per-route translation, encoded routes and clusters. Every stage gives the same output
 * with or without it; it only skips work for objects that did not change.
 */
export class TranslationCache {
  readonly classify = new ClassificationCache();
  readonly gateway = new GatewayTranslationCache();
  readonly xds = new XdsEncodingCache();
}

export interface TranslateOptions {
  /** Where Ingresses are served (defaults: 127.0.0.1, ports 80/443, dedicated pool 127.0.1.0/24). */
  ingress?: Partial<IngressOptions>;
  /** Work to reuse from earlier translations; the result is the same without it. */
  cache?: TranslationCache;
  /** L7 policy: access log path, the node's addresses. */
  l7?: L7Options;
  /** Addresses of Gateways that ask for one; loopback by default (Kubernetes mode assigns them from a pool). */
  gatewayAddress?: GatewayAddressFor;
  /** Gateway and Ingress listeners also stream every request to this flow agent (L7 policy listeners' lines: `l7.accessLogForFlows`). */
  accessLogService?: AccessLogServiceTarget;
}

export function translateManifests(manifests: Manifest[], earlierProblems: ManifestProblem[] = [], options: TranslateOptions = {}): Translation {
  const { inputs, problems } = classifyManifests(manifests, options.cache?.classify);
  const gateway = translateGatewayApi(inputs, options.cache?.gateway, options.gatewayAddress);
  // Ingresses take the sockets Gateways leave free (see src/ingress/sockets.ts).
  const ingress = translateIngresses(inputs, ingressOptions(options.ingress), new BackendResolver(inputs), gatewaySockets(gateway.ir, inputs));
  const ir = withIngressListeners(gateway.ir, ingress.listeners);
  const l7 = translateL7Policy({ pods: inputs.pods, namespaces: inputs.namespaces, secrets: inputs.secrets, policies: inputs.networkPolicies as unknown as RawPolicyObject[] }, options.l7);
  const resources = translateIrToXds(ir, options.cache?.xds, options.accessLogService);
  resources.push(...l7.resources);
  return { problems: [...earlierProblems, ...problems, ...ingress.problems, ...l7.problems], statuses: [...gateway.statuses, ...ingress.statuses], ir, resources, l7 };
}

export function translateDirectory(dir: string, files?: ManifestFileCache, options: TranslateOptions = {}): Translation {
  const loaded = loadManifestDir(dir, files);
  return translateManifests(loaded.manifests, loaded.problems, options);
}

/** For tests and golden files: one YAML text (several documents) standing for a directory. */
export function translateYaml(file: string, text: string, options: TranslateOptions = {}): Translation {
  const loaded = parseManifests(file, text);
  return translateManifests(loaded.manifests, loaded.problems, options);
}
