// A small kubelet for the local cluster's nodes: it registers its Node and keeps it Ready, and runs the pods bound
// to it as processes in network namespaces set up by Weft's CNI plugin, reporting their status. Pods are listed
// every second and on every watch event; one pass (a "sync") at a time, teardowns in the background.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:https';
import { basename, join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { startKubeletApi, type LogLookup } from './api.js';
import { collectSandboxes, createSandbox, removeSandbox } from './cni.js';
import { isAlive, startContainer, stopContainers, type ProcessRef } from './containers.js';
import { containerEnv, expandArgs } from './env.js';
import { PodEvents, type EventTarget } from './events.js';
import { containerProgram } from './images.js';
import { NodeHeartbeat } from './node.js';
import { LogIndexer, previousLogOf } from './log-files.js';
import { KUBELET_API_PORT, kubeletPaths, type KubeletOptions } from './options.js';
import { allContainers, comparable, initDone, podStatus, sandboxFailureStatus } from './pod-status.js';
import { probeDue, recordProbe, runProbe, type ProbeResult, type ProbeState } from './probes.js';
import { PodRecords, type ContainerRecord, type PodRecord } from './records.js';
import { writePodKubeconfig } from './service-account.js';
import { containerMounts, mountsForHostProcess, preparePodVolumes, withMounts, type PodVolumes } from './volumes.js';
import { projectRoot } from '../../../envoy/binary.js';

const run = promisify(execFile);
const HEARTBEAT_MS = 10_000;
const SYNC_MS = 1000;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 16_000, 30_000];

export class Kubelet {
  private readonly core: k8s.CoreV1Api;
  private readonly heartbeat: NodeHeartbeat;
  private readonly records: PodRecords;
  private readonly exitCodes = new Map<string, number | null>();
  /** Containers this kubelet started whose exit it has not yet been told of (key uid/name/pid). */
  private readonly awaitingExit = new Set<string>();
  private readonly probes = new Map<string, ProbeState>();
  private readonly tearingDown = new Set<string>();
  private readonly lastWritten = new Map<string, string>();
  private readonly logIndex: LogIndexer;
  private readonly events: PodEvents;
  /** Containers being stopped after a failed liveness probe (key uid/name/pid). */
  private readonly killing = new Set<string>();
  private api?: Server;
  private timers: NodeJS.Timeout[] = [];
  private watchAbort?: AbortController;
  private syncing = false;
  private syncAgain = false;
  private stopped = false;

  constructor(private readonly kc: k8s.KubeConfig, private readonly o: KubeletOptions, private readonly log: (line: string) => void) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.heartbeat = new NodeHeartbeat(kc, o);
    const paths = kubeletPaths(o);
    mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
    this.records = new PodRecords(paths.pods);
    this.logIndex = new LogIndexer(paths.logs, log);
    this.events = new PodEvents(kc, o.nodeName, log);
  }

  async start(): Promise<void> {
    if (this.o.tls && !this.api) {
      const port = this.o.apiPort ?? KUBELET_API_PORT;
      this.api = await startKubeletApi({ address: this.o.nodeAddress, port, ...this.o.tls }, (...a) => this.findLog(...a), this.log);
      this.logIndex.start(readdirSync(kubeletPaths(this.o).logs).filter((f) => f.endsWith('.log')));
      this.log(`kubelet API on https://${this.o.nodeAddress}:${port}`);
    }
    await this.heartbeat.register();
    await this.cleanStrays();
    this.timers.push(setInterval(() => { this.heartbeat.beat().catch((e: unknown) => this.log(`heartbeat: ${String(e)}`)); }, HEARTBEAT_MS));
    this.timers.push(setInterval(() => this.requestSync(), SYNC_MS));
    void this.watch();
    this.requestSync();
    this.log(`node ${this.o.nodeName} registered (${this.o.nodeAddress}, pods ${this.o.podCidr})`);
  }

  /** Stops the loops; pods keep running (a restarted kubelet adopts them). */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.watchAbort?.abort();
    this.api?.close();
    this.api?.closeAllConnections();
    this.logIndex.stop();
  }

  private logFile(r: Pick<PodRecord, 'namespace' | 'name' | 'uid'>, container: string): string {
    return join(kubeletPaths(this.o).logs, `${r.namespace}_${r.name}_${r.uid}_${container}.log`);
  }

  /** The log of a container of a pod this node runs, for the kubelet API, with its newest bytes indexed. */
  private findLog(namespace: string, pod: string, container: string, previous: boolean): LogLookup {
    const r = this.records.all().find((x) => x.namespace === namespace && x.name === pod);
    if (!r) return { status: 404, message: `pod "${namespace}/${pod}" does not run on node ${this.o.nodeName}` };
    const c = allContainers(r).find((x) => x.name === container);
    if (!c) return { status: 404, message: `container "${container}" is not in pod "${namespace}/${pod}"` };
    const current = this.logFile(r, container);
    const file = previous ? previousLogOf(current) : current;
    if (!existsSync(file)) {
      return previous
        ? { status: 400, message: `previous terminated container "${container}" in pod "${pod}" not found` }
        : { status: 400, message: `container "${container}" in pod "${pod}" is waiting to start: ${c.waiting?.reason ?? 'ContainerCreating'}` };
    }
    this.logIndex.index(basename(file));
    const process = previous ? undefined : c.process;
    return { file, running: () => Boolean(process && isAlive(process)) };
  }

  /** Pod namespaces with this node's prefix that no record knows, and IPAM entries of no record, go. */
  private async cleanStrays(): Promise<void> {
    const known = new Set(this.records.all().map((r) => r.netns));
    const { stdout } = await run('ip', ['netns', 'list']);
    for (const name of stdout.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(this.o.podNetnsPrefix))) {
      if (!known.has(name)) {
        this.log(`removing stray pod namespace ${name}`);
        await run('ip', ['netns', 'delete', name]).catch(() => undefined);
      }
    }
    await collectSandboxes(this.o, this.records.all().map((r) => r.uid));
  }

  private async watch(): Promise<void> {
    while (!this.stopped) {
      await new Promise<void>((resolve) => {
        new k8s.Watch(this.kc).watch('/api/v1/pods', { fieldSelector: `spec.nodeName=${this.o.nodeName}` },
          () => this.requestSync(), () => resolve())
          .then((c) => { this.watchAbort = c; })
          .catch(() => resolve());
      });
      if (!this.stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private requestSync(): void {
    if (this.stopped) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    void this.sync().catch((e: unknown) => this.log(`sync: ${e instanceof Error ? e.message : String(e)}`)).finally(() => {
      this.syncing = false;
      if (this.syncAgain) {
        this.syncAgain = false;
        this.requestSync();
      }
    });
  }

  private async sync(): Promise<void> {
    const pods = (await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.o.nodeName}` })).items;
    const byUid = new Map(pods.map((p) => [p.metadata!.uid!, p]));
    const records = new Map(this.records.all().map((r) => [r.uid, r]));
    // Records of pods the API server no longer has (deleted with grace 0, or while the kubelet was away).
    for (const r of records.values()) {
      if (!byUid.has(r.uid)) this.teardown(r, 2000, undefined);
    }
    for (const pod of pods) {
      const uid = pod.metadata!.uid!;
      if (this.tearingDown.has(uid)) continue;
      const record = records.get(uid);
      if (pod.metadata?.deletionTimestamp) {
        const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
        if (record) this.teardown(record, grace * 1000, pod);
        else this.confirmDeletion(pod);
        continue;
      }
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
      try {
        await this.syncPod(pod, record);
      } catch (e) {
        this.log(`pod ${pod.metadata?.namespace}/${pod.metadata?.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private async syncPod(pod: k8s.V1Pod, existing: PodRecord | undefined): Promise<void> {
    const uid = pod.metadata!.uid!;
    let record = existing;
    if (!record) {
      // Credentials first: a failure here (retried next sync) leaves no sandbox behind.
      const kubeconfig = await writePodKubeconfig(this.kc, pod, kubeletPaths(this.o).credentials);
      const hostNetwork = pod.spec?.hostNetwork === true;
      let netns = this.o.nodeNetns;
      let podIP = this.o.nodeAddress;
      if (!hostNetwork) {
        netns = `${this.o.podNetnsPrefix}${uid.replace(/-/g, '').slice(0, 12)}`;
        try {
          podIP = await createSandbox(this.o, uid, netns);
        } catch (e) {
          // Retried on the next sync; meanwhile the pod's status says why it does not start.
          await this.writeSandboxFailure(pod, e instanceof Error ? e.message : String(e));
          throw e;
        }
      }
      record = {
        uid, namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, netns, podIP, startTime: new Date().toISOString(),
        ...(hostNetwork ? { hostNetwork } : {}), ...(kubeconfig ? { kubeconfig } : {}),
        containers: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '', restartCount: 0 })),
        initContainers: (pod.spec?.initContainers ?? []).map((c) => ({
          name: c.name, image: c.image ?? '', restartCount: 0, ...(c.restartPolicy === 'Always' ? { sidecar: true } : {}),
        })),
      };
      this.records.save(record);
      this.log(`pod ${record.namespace}/${record.name}: sandbox ${netns}, ${podIP}`);
    }
    let changed = false;
    const now = Date.now();
    // Volumes are (re)written only when a container is about to start, so they hold the objects as they are then.
    let volumes: PodVolumes | Error = new Map();
    if (pod.spec?.volumes?.length && allContainers(record).some((c) => !c.terminated && !(c.process && isAlive(c.process)))) {
      volumes = await preparePodVolumes(this.core, pod, { podIP: record.podIP, hostIP: this.o.nodeAddress }, this.volumesDir(uid), { hostRoot: join(this.o.stateDir, 'host') }).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    }
    // Init containers one at a time, in order, each to completion (a sidecar, restartPolicy Always, only to its
    // start); the containers once all have.
    const podPolicy = pod.spec?.restartPolicy ?? 'Always';
    for (const c of record.initContainers ?? []) {
      const spec = pod.spec!.initContainers?.find((s) => s.name === c.name);
      if (!spec) continue;
      const policy = c.sidecar ? 'Always' : podPolicy === 'Never' ? 'Never' : 'OnFailure';
      changed = this.syncContainer(pod, record, c, spec, now, volumes, policy, true) || changed;
      if (!(c.sidecar ? c.process && isAlive(c.process) : c.terminated?.exitCode === 0)) break;
    }
    if (initDone(record)) {
      for (const c of record.containers) {
        const spec = pod.spec!.containers.find((s) => s.name === c.name);
        if (!spec) continue;
        changed = this.syncContainer(pod, record, c, spec, now, volumes, podPolicy, false) || changed;
      }
    }
    if (changed) this.records.save(record);
    await this.runProbes(pod, record, now);
    await this.writeStatus(pod, record);
  }

  private volumesDir(uid: string): string {
    return join(this.o.stateDir, 'volumes', uid);
  }

  /** Starts, notices the exit of, and restarts (per restartPolicy, with backoff) one container. */
  private syncContainer(pod: k8s.V1Pod, r: PodRecord, c: ContainerRecord, spec: k8s.V1Container, now: number, volumes: PodVolumes | Error,
    policy: string, init: boolean): boolean {
    const key = `${r.uid}/${c.name}`;
    const target: EventTarget = { namespace: r.namespace, name: r.name, uid: r.uid, container: c.name, init };
    if (c.process && isAlive(c.process)) return false;
    // Gone, but its exit status is still on its way (the exit event triggers a sync).
    if (c.process && this.awaitingExit.has(`${key}/${c.process.pid}`)) return false;
    if (c.process) {
      // It was running and is gone.
      const exitCode = this.exitCodes.get(`${key}/${c.process.pid}`) ?? 0;
      this.exitCodes.delete(`${key}/${c.process.pid}`);
      const t = { exitCode: exitCode ?? 0, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: c.startedAt ?? new Date(now).toISOString(), finishedAt: new Date(now).toISOString() };
      c.process = undefined;
      c.startedAt = undefined;
      this.probes.delete(key);
      this.probes.delete(`${key}/liveness`);
      if (policy === 'Always' || (policy === 'OnFailure' && t.exitCode !== 0)) {
        c.lastTermination = t;
        c.nextStartAt = now + BACKOFF_MS[Math.min(c.restartCount, BACKOFF_MS.length - 1)];
        c.waiting = { reason: 'CrashLoopBackOff', message: `back-off restarting container ${c.name} (exit code ${t.exitCode})` };
        c.restartCount++;
        this.events.warning(target, 'BackOff', `Back-off restarting failed container ${c.name} in pod ${r.name}_${r.namespace}(${r.uid})`);
      } else {
        c.terminated = t;
      }
      this.log(`pod ${r.namespace}/${r.name}: container ${c.name} exited with ${t.exitCode}`);
      return true;
    }
    if (c.terminated || (c.nextStartAt && now < c.nextStartAt)) return false;
    const program = containerProgram(spec);
    if ('waiting' in program) {
      if (c.waiting?.reason === program.waiting.reason && c.waiting.message === program.waiting.message) return false;
      c.waiting = program.waiting;
      this.events.warning(target, 'Failed', `Error: ${program.waiting.reason}: ${program.waiting.message ?? ''}`);
      return true;
    }
    let env: Record<string, string>;
    let mounts: { source: string; target: string }[];
    try {
      env = containerEnv(pod, spec, { podIP: r.podIP, hostIP: this.o.nodeAddress });
      if (r.kubeconfig) env = { KUBECONFIG: r.kubeconfig, ...env };
      if (volumes instanceof Error) throw volumes;
      const safe = mountsForHostProcess([...(program.imageMounts ?? []), ...containerMounts(spec, volumes)], [projectRoot(), this.o.stateDir]);
      mounts = safe.mounts;
      for (const m of safe.skipped) this.log(`pod ${r.namespace}/${r.name}: container ${c.name}: volume at ${m.target} not mounted: ip netns exec mounts /sys afresh for the process`);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (c.waiting?.reason !== 'CreateContainerConfigError' || c.waiting.message !== message) this.events.warning(target, 'Failed', `Error: ${message}`);
      c.waiting = { reason: 'CreateContainerConfigError', message };
      return true;
    }
    const log = this.logFile(r, c.name);
    this.logIndex.rotate(log); // a restart: the instance before is `previous=true`
    this.events.normal(target, 'Pulled', `Container image "${c.image}" already present on machine`);
    const started = startContainer(r.netns, withMounts(expandArgs(program.argv, env), mounts), env, spec.workingDir, log);
    this.events.normal(target, 'Created', `Created container: ${c.name}`);
    this.events.normal(target, 'Started', `Started container ${c.name}`);
    this.awaitingExit.add(`${key}/${started.ref.pid}`);
    void started.exited.then((code) => {
      this.exitCodes.set(`${key}/${started.ref.pid}`, code);
      this.awaitingExit.delete(`${key}/${started.ref.pid}`);
      this.requestSync();
    });
    c.process = started.ref;
    c.startedAt = new Date(now).toISOString();
    c.waiting = undefined;
    c.nextStartAt = undefined;
    this.log(`pod ${r.namespace}/${r.name}: container ${c.name} started (pid ${started.ref.pid}), log ${log}`);
    return true;
  }

  /** Readiness and liveness probes of running containers; a container failing its liveness probe is stopped (the
   * next sync restarts it per restartPolicy, as for any exit). */
  private async runProbes(pod: k8s.V1Pod, r: PodRecord, now: number): Promise<void> {
    const unhealthy = (c: ContainerRecord, init: boolean, kind: string, result: ProbeResult) => this.events.warning(
      { namespace: r.namespace, name: r.name, uid: r.uid, container: c.name, init }, 'Unhealthy', `${kind} probe failed: ${result.message ?? ''}`);
    const withSpecs = [
      ...(r.initContainers ?? []).filter((c) => c.sidecar).map((c) => ({ c, init: true, spec: pod.spec!.initContainers?.find((s) => s.name === c.name) })),
      ...r.containers.map((c) => ({ c, init: false, spec: pod.spec!.containers.find((s) => s.name === c.name) })),
    ];
    await Promise.all(withSpecs.map(async ({ c, init, spec }) => {
      const key = `${r.uid}/${c.name}`;
      const process = c.process;
      if (!spec || !process || !c.startedAt || this.killing.has(`${key}/${process.pid}`)) return;
      const startedAt = Date.parse(c.startedAt);
      const readiness = spec.readinessProbe;
      if (readiness && probeDue(readiness, this.probes.get(key), startedAt, now)) {
        const result = await runProbe(readiness, spec, r.podIP, r.netns);
        if (!result.ok) unhealthy(c, init, 'Readiness', result);
        this.probes.set(key, recordProbe(readiness, this.probes.get(key), result.ok, Date.now()));
      }
      const liveness = spec.livenessProbe;
      if (liveness && probeDue(liveness, this.probes.get(`${key}/liveness`), startedAt, now)) {
        const result = await runProbe(liveness, spec, r.podIP, r.netns);
        if (!result.ok) unhealthy(c, init, 'Liveness', result);
        const state = recordProbe(liveness, this.probes.get(`${key}/liveness`), result.ok, Date.now());
        this.probes.set(`${key}/liveness`, state);
        if (state.failures >= (liveness.failureThreshold ?? 3) && isAlive(process)) {
          this.events.normal({ namespace: r.namespace, name: r.name, uid: r.uid, container: c.name, init }, 'Killing', `Container ${c.name} failed liveness probe, will be restarted`);
          const grace = liveness.terminationGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
          this.killing.add(`${key}/${process.pid}`);
          void stopContainers([process], grace * 1000).finally(() => {
            this.killing.delete(`${key}/${process.pid}`);
            this.requestSync();
          });
        }
      }
    }));
  }

  private readiness(pod: k8s.V1Pod, r: PodRecord): Map<string, boolean> {
    const probeOf = (name: string) => (pod.spec?.containers.find((s) => s.name === name) ?? pod.spec?.initContainers?.find((s) => s.name === name))?.readinessProbe;
    return new Map(allContainers(r).map((c) => {
      const running = Boolean(c.process && c.startedAt);
      return [c.name, running && (!probeOf(c.name) || (this.probes.get(`${r.uid}/${c.name}`)?.ready ?? false))];
    }));
  }

  private async writeStatus(pod: k8s.V1Pod, r: PodRecord): Promise<void> {
    const status = podStatus(pod, r, this.readiness(pod, r), this.o.nodeAddress, new Date());
    const text = comparable(status);
    if (text === comparable(pod.status) || text === this.lastWritten.get(`${r.uid}/${pod.metadata?.resourceVersion}`)) return;
    try {
      await this.core.replaceNamespacedPodStatus({ name: r.name, namespace: r.namespace, body: { ...pod, status } });
      this.lastWritten.set(`${r.uid}/${pod.metadata?.resourceVersion}`, text);
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e; // a conflict: the next sync writes against the newer pod
    }
  }

  private async writeSandboxFailure(pod: k8s.V1Pod, message: string): Promise<void> {
    if (!pod.status?.conditions?.some((c) => c.type === 'PodReadyToStartContainers' && c.status === 'False')) {
      this.events.warning({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, uid: pod.metadata!.uid! }, 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${message}`);
    }
    const status = sandboxFailureStatus(pod, `FailedCreatePodSandBox: ${message}`, this.o.nodeAddress, new Date());
    if (comparable(status) === comparable(pod.status)) return;
    await this.core.replaceNamespacedPodStatus({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body: { ...pod, status } })
      .catch((e: unknown) => { if ((e as { code?: number }).code !== 409) throw e; });
  }

  /** SIGTERM, SIGKILL after the grace period, CNI DEL, namespace removed, then the deletion confirmed. */
  private teardown(r: PodRecord, graceMs: number, pod: k8s.V1Pod | undefined): void {
    if (this.tearingDown.has(r.uid)) return;
    this.tearingDown.add(r.uid);
    void (async () => {
      const running = allContainers(r).filter((c) => c.process && isAlive(c.process));
      for (const c of running) {
        this.events.normal({ namespace: r.namespace, name: r.name, uid: r.uid, container: c.name, init: r.initContainers?.includes(c) }, 'Killing', `Stopping container ${c.name}`);
      }
      const refs = running.flatMap((c): ProcessRef[] => (c.process ? [c.process] : []));
      await stopContainers(refs, graceMs);
      if (!r.hostNetwork) await removeSandbox(this.o, r.uid, r.netns);
      if (r.kubeconfig) rmSync(r.kubeconfig, { force: true });
      rmSync(this.volumesDir(r.uid), { recursive: true, force: true });
      this.records.remove(r.uid);
      for (const c of allContainers(r)) {
        this.probes.delete(`${r.uid}/${c.name}`);
        this.probes.delete(`${r.uid}/${c.name}/liveness`);
      }
      this.events.forget(r.uid);
      this.log(`pod ${r.namespace}/${r.name}: stopped, sandbox ${r.netns} removed`);
      if (pod) await this.confirmDeletionNow(pod);
    })().catch((e: unknown) => this.log(`pod ${r.namespace}/${r.name}: teardown: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => this.tearingDown.delete(r.uid));
  }

  private confirmDeletion(pod: k8s.V1Pod): void {
    void this.confirmDeletionNow(pod).catch((e: unknown) => this.log(`pod ${pod.metadata?.name}: delete: ${String(e)}`));
  }

  private async confirmDeletionNow(pod: k8s.V1Pod): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({
        name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid! } },
      });
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code !== 404 && code !== 409) throw e;
    }
  }
}
