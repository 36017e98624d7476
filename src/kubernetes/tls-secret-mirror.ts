// TLS Secrets for the node agents without Secret access across the cluster (as Cilium's operator syncs them into
// `cilium-secrets`): RBAC cannot narrow `list secrets` by type, so an agent allowed to list TLS Secrets everywhere could
// list the mesh CA's root key too. With a secrets namespace, the leader operator copies every kubernetes.io/tls Secret
// of the cluster into it (named `<namespace>.<name>`, which no two sources share: namespaces hold no dots), removes
// copies whose source is gone, and the agents read only that namespace, taking each copy for its source (its
// namespace and name) so the translation sees what the operator sees.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { startKindInformer, type KindInformer, type KubeObject } from './informers.js';
import type { WatchedKind } from './watched-kinds.js';

export const MIRROR_MANAGED_BY = 'weft-tls-secret-mirror';
export const SOURCE_NAMESPACE_ANNOTATION = 'weft.dev/source-namespace';
export const SOURCE_NAME_ANNOTATION = 'weft.dev/source-name';
const TLS = 'type=kubernetes.io/tls';

/** The copy's name, or undefined when it would be longer than a Secret name may be (253). */
export function mirrorName(namespace: string, name: string): string | undefined {
  const n = `${namespace}.${name}`;
  return n.length <= 253 ? n : undefined;
}

/** What an agent watches instead of every TLS Secret: the copies in the secrets namespace. */
export function mirroredSecretKind(namespace: string): WatchedKind {
  return { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, namespace, fieldSelector: TLS, labelSelector: `app.kubernetes.io/managed-by=${MIRROR_MANAGED_BY}`, mirrored: true };
}

/** The source's namespace and name of a copy (from its annotations), or undefined for an object that is no copy. */
export function mirrorSource(obj: KubeObject): { namespace: string; name: string } | undefined {
  const a = obj.metadata?.annotations;
  const namespace = a?.[SOURCE_NAMESPACE_ANNOTATION];
  const name = a?.[SOURCE_NAME_ANNOTATION];
  return namespace && name && obj.metadata?.name === mirrorName(namespace, name) ? { namespace, name } : undefined;
}

type SecretObject = KubeObject & { type?: string; data?: Record<string, string> };

export class TlsSecretMirror {
  private readonly core: k8s.CoreV1Api;
  private sources: KindInformer | undefined;
  private copies: KindInformer | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private lastError = '';

  constructor(private readonly kc: k8s.KubeConfig, readonly namespace: string, private readonly log: Logger) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  /** Follows leadership: only the leader writes copies. */
  setLeading(leading: boolean): void {
    if (!leading) {
      void this.stop();
      return;
    }
    const changed = () => this.schedule();
    this.sources ??= startKindInformer(this.kc, { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, fieldSelector: TLS }, changed, this.log);
    this.copies ??= startKindInformer(this.kc, mirroredSecretKind(this.namespace), changed, this.log);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    const { sources, copies } = this;
    this.sources = undefined;
    this.copies = undefined;
    await sources?.stop();
    await copies?.stop();
    await this.running;
  }

  private schedule(delayMs = 50): void {
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.sync().then(() => {
        this.lastError = '';
      }, (err: unknown) => {
        const message = (err as Error).message.split('\n')[0];
        if (message !== this.lastError) this.log.error({ err: message, namespace: this.namespace }, 'TLS Secret mirror: a copy could not be written; retrying');
        this.lastError = message;
        this.again = true;
      }).finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule(this.lastError ? 2_000 : 50);
        }
      });
    }, delayMs);
    this.timer.unref();
  }

  /** One pass: every source has an equal copy, and no copy outlives its source. */
  private async sync(): Promise<void> {
    const sources = this.sources;
    const copies = this.copies;
    if (!sources?.synced() || !copies?.synced()) return;
    const wanted = new Map<string, SecretObject>();
    for (const obj of sources.list() as SecretObject[]) {
      const ns = obj.metadata?.namespace;
      const name = obj.metadata?.name;
      if (!ns || !name || ns === this.namespace) continue;
      const copyName = mirrorName(ns, name);
      if (!copyName) {
        this.log.warn({ secret: `${ns}/${name}` }, 'TLS Secret mirror: namespace and name together are longer than 253 characters; not copied');
        continue;
      }
      wanted.set(copyName, obj);
    }
    for (const [copyName, src] of wanted) {
      const live = copies.get(copyName, this.namespace);
      const body: k8s.V1Secret = {
        metadata: {
          name: copyName, namespace: this.namespace,
          labels: { 'app.kubernetes.io/managed-by': MIRROR_MANAGED_BY },
          annotations: { [SOURCE_NAMESPACE_ANNOTATION]: src.metadata!.namespace!, [SOURCE_NAME_ANNOTATION]: src.metadata!.name! },
        },
        type: 'kubernetes.io/tls',
        data: src.data ?? {},
      };
      if (!live) await this.core.createNamespacedSecret({ namespace: this.namespace, body });
      else if (JSON.stringify(live.data ?? {}) !== JSON.stringify(body.data)) {
        await this.core.replaceNamespacedSecret({ name: copyName, namespace: this.namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: live.metadata?.resourceVersion } } });
      }
    }
    for (const copy of copies.list()) {
      const name = copy.metadata?.name;
      if (name && !wanted.has(name)) {
        await this.core.deleteNamespacedSecret({ name, namespace: this.namespace }).catch((err: unknown) => {
          if ((err as { code?: number }).code !== 404) throw err;
        });
      }
    }
  }
}
