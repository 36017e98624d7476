// What the kubelet knows about each of its pods, kept on disk (one JSON file per pod, replaced atomically) so a
// restarted kubelet adopts the pods it left running, or cleans them up, and never leaks them.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessRef } from './containers.js';

export interface Termination { exitCode: number; reason: string; startedAt: string; finishedAt: string }

export interface ContainerRecord {
  name: string;
  image: string;
  process?: ProcessRef;
  startedAt?: string;
  restartCount: number;
  /** Set while the container is not running: why (waiting), or how it ended with no restart due (terminated). */
  waiting?: { reason: string; message?: string };
  terminated?: Termination;
  lastTermination?: Termination;
  /** Backoff: not restarted before this time (ms since the epoch). */
  nextStartAt?: number;
  /** An init container with restartPolicy Always: runs beside the containers rather than to completion first. */
  sidecar?: boolean;
}

export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  netns: string;
  podIP: string;
  /** A hostNetwork pod: its containers run in the node's namespace, which is not the pod's to remove. */
  hostNetwork?: boolean;
  /** The pod's ServiceAccount credentials ($KUBECONFIG of its containers). */
  kubeconfig?: string;
  startTime: string;
  containers: ContainerRecord[];
  /** Run in order before `containers` (absent in records of older kubelets: none). */
  initContainers?: ContainerRecord[];
}

export class PodRecords {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  all(): PodRecord[] {
    return readdirSync(this.dir).filter((f) => f.endsWith('.json')).flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as PodRecord];
      } catch {
        return []; // a torn write cannot happen (rename), but a foreign file is not ours
      }
    });
  }

  save(r: PodRecord): void {
    const file = join(this.dir, `${r.uid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(r, null, 1), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  remove(uid: string): void {
    rmSync(join(this.dir, `${uid}.json`), { force: true });
  }
}
