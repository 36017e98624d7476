// One informer per watched kind, kept alive: client-node's informer relists on 410 Gone by itself, but stops on
// any other error (API server restart, a CRD not installed yet), so it is restarted here with backoff.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { collectionPath, type WatchedKind } from './watched-kinds.js';

export type KubeObject = k8s.KubernetesObject & Record<string, unknown>;

export interface KindInformer {
  kind: WatchedKind;
  /** Objects as last seen; empty until the first list succeeds. */
  list(): KubeObject[];
  /** One object as last seen (the informer's index: status writes look up every object on each pass). */
  get(name: string, namespace?: string): KubeObject | undefined;
  /** True once the first list completed. */
  synced(): boolean;
  stop(): Promise<void>;
}

const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 10_000;

/**
 * What an update must change to count: `fingerprint(obj)` (e.g. what a translation reads of it). Updates that keep
 * it (a status written, managedFields, resourceVersion) call `onOtherChange` instead of `onChange`.
 */
export interface ChangeFilter {
  fingerprint(obj: KubeObject): string;
  onOtherChange?: () => void;
}

export function startKindInformer(kc: k8s.KubeConfig, kind: WatchedKind, onChange: () => void, log: Logger, filter?: ChangeFilter): KindInformer {
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  const path = collectionPath(kind);
  let synced = false;
  const listFn = async (): Promise<k8s.KubernetesListObject<KubeObject>> => {
    const list = await client.list<KubeObject>(kind.apiVersion, kind.kind, kind.namespace, undefined, undefined, undefined, kind.fieldSelector, kind.labelSelector);
    // The informer adds the listed items right after this promise settles: report the sync after that.
    setImmediate(() => {
      if (!synced) {
        synced = true;
        onChange();
      }
    });
    return list;
  };
  const informer = k8s.makeInformer<KubeObject>(kc, kind.fieldSelector ? `${path}?fieldSelector=${encodeURIComponent(kind.fieldSelector)}` : path, listFn, kind.labelSelector);
  let stopped = false;
  let backoff = MIN_BACKOFF_MS;
  let timer: NodeJS.Timeout | undefined;
  let lastError = '';

  // The last fingerprint per object (by uid): with 1,000 routes, every status the operator writes is an update event,
  // and re-translating everything for each would keep operator and agents busy for as long as the writes last.
  const fingerprints = new Map<string, string>();
  const keyOf = (obj: KubeObject): string => obj.metadata?.uid ?? `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
  informer.on('add', (obj) => {
    if (filter) fingerprints.set(keyOf(obj), filter.fingerprint(obj));
    onChange();
  });
  informer.on('update', (obj) => {
    if (filter) {
      const key = keyOf(obj);
      const print = filter.fingerprint(obj);
      if (fingerprints.get(key) === print) {
        filter.onOtherChange?.();
        return;
      }
      fingerprints.set(key, print);
    }
    onChange();
  });
  informer.on('delete', (obj) => {
    fingerprints.delete(keyOf(obj));
    onChange();
  });
  informer.on('connect', () => {
    backoff = MIN_BACKOFF_MS;
    if (lastError) log.info({ kind: kind.kind }, 'watch recovered');
    lastError = '';
  });
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    const message = describeWatchError(err);
    // Log each distinct failure once, not once per retry.
    if (message !== lastError) log.warn({ kind: kind.kind, err: message }, `watch of ${kind.kind} failed; retrying with backoff`);
    lastError = message;
    timer = setTimeout(() => {
      if (!stopped) informer.start().catch(() => undefined);
    }, backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  });
  informer.start().catch(() => undefined);

  return {
    kind,
    list: () => [...informer.list()],
    get: (name, namespace) => informer.get(name, namespace),
    synced: () => synced,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop();
    },
  };
}

/** "429 storage is (re)initializing" rather than client-node's multi-line dump of the whole response. */
function describeWatchError(err: unknown): string {
  const e = err as { code?: number; statusCode?: number; body?: unknown; message?: string };
  let reason: string | undefined;
  if (typeof e.body === 'string') {
    try {
      reason = (JSON.parse(e.body) as { message?: string }).message;
    } catch {
      reason = e.body;
    }
  }
  const code = e.code ?? e.statusCode;
  if (code && reason) return `${code} ${reason}`;
  return e.message?.split('\n')[0] ?? String(err);
}
