// The pod status the kubelet reports, computed from its record of the pod and the readiness of its containers.
import type { V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import type { ContainerRecord, PodRecord } from './records.js';

// The API server keeps times to the second; so do we, or every sync would see a change.
export const toSecond = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
const date = (iso: string | undefined) => (iso ? toSecond(new Date(iso)) : undefined);

export const allContainers = (r: PodRecord): ContainerRecord[] => [...(r.initContainers ?? []), ...r.containers];

/** Every init container has completed (exit 0), or, for a sidecar, runs. */
export function initDone(r: PodRecord): boolean {
  return (r.initContainers ?? []).every((c) => (c.sidecar ? Boolean(c.process && c.startedAt && !c.waiting) : c.terminated?.exitCode === 0));
}

function containerStatus(c: ContainerRecord, ready: boolean, waitingReason = 'ContainerCreating'): V1ContainerStatus {
  const running = c.process && c.startedAt && !c.waiting && !c.terminated;
  // A completed init container counts as ready, as the kubelet reports it.
  const completed = c.terminated?.exitCode === 0 && c.terminated.reason === 'Completed';
  const term = (t: NonNullable<ContainerRecord['terminated']>) => ({ exitCode: t.exitCode, reason: t.reason, startedAt: date(t.startedAt), finishedAt: date(t.finishedAt) });
  return {
    name: c.name,
    image: c.image,
    imageID: `weft-process://${c.image}`,
    containerID: c.process ? `weft-process://${c.process.pid}` : undefined,
    ready: (Boolean(running) && ready) || completed,
    started: Boolean(running),
    restartCount: c.restartCount,
    state: running ? { running: { startedAt: date(c.startedAt) } }
      : c.terminated ? { terminated: term(c.terminated) }
      : { waiting: c.waiting ?? { reason: waitingReason } },
    lastState: c.lastTermination ? { terminated: term(c.lastTermination) } : {},
  };
}

export function podPhase(r: PodRecord): string {
  // An init container that failed for good (restartPolicy Never) fails the pod; until all are done, it is Pending.
  if ((r.initContainers ?? []).some((c) => c.terminated && c.terminated.exitCode !== 0)) return 'Failed';
  if (!initDone(r)) return 'Pending';
  const cs = r.containers;
  if (cs.some((c) => c.process && !c.terminated && !c.waiting)) return 'Running';
  if (cs.length && cs.every((c) => c.terminated)) return cs.every((c) => c.terminated!.exitCode === 0) ? 'Succeeded' : 'Failed';
  if (cs.some((c) => c.restartCount > 0 || c.lastTermination)) return 'Running'; // restarting after a crash
  return 'Pending';
}

/** The status to write; `ready` tells, per container name, whether its readiness probe (or start) holds. */
export function podStatus(pod: V1Pod, r: PodRecord, ready: Map<string, boolean>, hostIP: string, at: Date): V1PodStatus {
  const now = toSecond(at);
  const initialized = initDone(r);
  const statuses = r.containers.map((c) => containerStatus(c, ready.get(c.name) ?? false, initialized ? 'ContainerCreating' : 'PodInitializing'));
  const initStatuses = (r.initContainers ?? []).map((c) => containerStatus(c, ready.get(c.name) ?? false, 'PodInitializing'));
  const allReady = statuses.length > 0 && statuses.every((s) => s.ready);
  const previous = pod.status?.conditions ?? [];
  const condition = (type: string, ok: boolean, reason?: string): V1PodCondition => {
    const status = ok ? 'True' : 'False';
    const prev = previous.find((c) => c.type === type);
    return { type, status, reason: ok ? undefined : reason, lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : now };
  };
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const message = unready.length ? `containers with unready status: [${unready.join(' ')}]` : undefined;
  const incomplete = (r.initContainers ?? []).filter((c) => !c.sidecar && c.terminated?.exitCode !== 0).map((c) => c.name);
  const conditions = [
    condition('PodReadyToStartContainers', true),
    { ...condition('Initialized', initialized, 'ContainersNotInitialized'), message: initialized ? undefined : `containers with incomplete status: [${incomplete.join(' ')}]` },
    { ...condition('Ready', allReady, 'ContainersNotReady'), message },
    { ...condition('ContainersReady', allReady, 'ContainersNotReady'), message },
    condition('PodScheduled', true),
  ];
  return {
    ...pod.status,
    phase: podPhase(r),
    hostIP,
    hostIPs: [{ ip: hostIP }],
    podIP: r.podIP,
    podIPs: [{ ip: r.podIP }],
    startTime: date(r.startTime),
    conditions,
    containerStatuses: statuses,
    ...(initStatuses.length ? { initContainerStatuses: initStatuses } : {}),
    qosClass: pod.status?.qosClass ?? 'BestEffort',
  };
}

/** A pod whose sandbox (namespace, CNI ADD) could not be made: Pending, its containers waiting with the reason. */
export function sandboxFailureStatus(pod: V1Pod, message: string, hostIP: string, at: Date): V1PodStatus {
  const now = toSecond(at);
  const previous = pod.status?.conditions ?? [];
  const condition = (type: string, status: string, reason?: string): V1PodCondition => {
    const prev = previous.find((c) => c.type === type);
    return { type, status, reason, lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : now };
  };
  return {
    ...pod.status,
    phase: 'Pending',
    hostIP,
    hostIPs: [{ ip: hostIP }],
    conditions: [
      { ...condition('PodReadyToStartContainers', 'False', 'SandboxCreationFailed'), message },
      condition('Initialized', 'True'),
      condition('Ready', 'False', 'ContainersNotReady'),
      condition('ContainersReady', 'False', 'ContainersNotReady'),
      condition('PodScheduled', 'True'),
    ],
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name, image: c.image ?? '', imageID: '', ready: false, started: false, restartCount: 0,
      state: { waiting: { reason: 'ContainerCreating', message } },
    })),
  };
}

/** A status as canonical JSON (keys sorted, no nulls or empty values), to compare what we would write with what is stored. */
export function comparable(value: unknown): string {
  const canon = (v: unknown): unknown => {
    if (v === null || v === undefined || v === '') return undefined;
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) {
      const items = v.map(canon).filter((x) => x !== undefined);
      return items.length ? items : undefined;
    }
    if (typeof v === 'object') {
      const entries = Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])] as const).filter(([, x]) => x !== undefined);
      return entries.length ? Object.fromEntries(entries) : undefined;
    }
    return v;
  };
  return JSON.stringify(canon(value)) ?? '';
}
