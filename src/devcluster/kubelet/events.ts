// Events about the pods the kubelet runs (Pulled, Created, Started, Killing, Unhealthy, BackOff, ...), as core v1
// Events (what `kubectl describe pod` and `kubectl events` show; events.k8s.io/v1 reads the same objects). A repeat
// of the same event (same pod, container, reason and message) raises the count of the first, as the kubelet's
// recorder does. Posting never holds up the kubelet: failures are logged and dropped.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';

export interface EventTarget { namespace: string; name: string; uid: string; container?: string; init?: boolean }

interface Posted { name: string; count: number }

export class PodEvents {
  private readonly core: k8s.CoreV1Api;
  private readonly posted = new Map<string, Posted>();
  private queue: Promise<void> = Promise.resolve();

  constructor(kc: k8s.KubeConfig, private readonly node: string, private readonly log: (line: string) => void) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  normal(target: EventTarget, reason: string, message: string): void {
    this.record(target, 'Normal', reason, message);
  }

  warning(target: EventTarget, reason: string, message: string): void {
    this.record(target, 'Warning', reason, message);
  }

  /** Forgets the pod's events (after its teardown): the API server's TTL removes the objects. */
  forget(uid: string): void {
    for (const key of this.posted.keys()) if (key.startsWith(`${uid}\0`)) this.posted.delete(key);
  }

  /** Resolves once everything recorded so far has been posted (or has failed). */
  flushed(): Promise<void> {
    return this.queue;
  }

  private record(target: EventTarget, type: string, reason: string, message: string): void {
    const fieldPath = target.container ? `spec.${target.init ? 'initContainers' : 'containers'}{${target.container}}` : undefined;
    const key = [target.uid, fieldPath ?? '', reason, message].join('\0');
    const at = new Date();
    // In order, one at a time: a repeat must find the first one posted.
    this.queue = this.queue.then(() => this.post(key, target, fieldPath, type, reason, message, at))
      .catch((e: unknown) => this.log(`event ${reason} for ${target.namespace}/${target.name}: ${e instanceof Error ? e.message : String(e)}`));
  }

  private async post(key: string, target: EventTarget, fieldPath: string | undefined, type: string, reason: string, message: string, at: Date): Promise<void> {
    const namespace = target.namespace;
    const previous = this.posted.get(key);
    if (previous) {
      previous.count++;
      try {
        await this.core.patchNamespacedEvent({ name: previous.name, namespace, body: { count: previous.count, lastTimestamp: at } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
        return;
      } catch (e) {
        if ((e as { code?: number }).code !== 404) throw e;
        // Expired meanwhile: post it afresh.
      }
    }
    // The kubelet's naming: the object's name and a unique hex suffix.
    const name = `${target.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
    await this.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name, namespace },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace, name: target.name, uid: target.uid, ...(fieldPath ? { fieldPath } : {}) },
        type, reason, message,
        source: { component: 'kubelet', host: this.node },
        reportingComponent: 'kubelet', reportingInstance: this.node,
        firstTimestamp: at, lastTimestamp: at, count: 1,
      },
    });
    this.posted.set(key, { name, count: 1 });
  }
}
