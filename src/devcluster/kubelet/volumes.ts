// Pod volumes for the dev kubelet: `secret`, `configMap` (with `items` or every key), `emptyDir` and `projected`
// (secrets, configMaps, downward-API fields and service account tokens, as the admission plugin adds), written into a
// directory of the pod's own; each container's `volumeMounts` bind them at their mountPath inside the mount
// namespace that `ip netns exec` gives the process, so pods never see each other's files. Other kinds are a
// CreateContainerConfigError naming the volume. `hostPath` volumes resolve inside the node's own "host" (see
// hostPathSource): a dev node is a network namespace on this machine, and its pods must not write the machine's
// /opt/cni/bin or /etc/cni/net.d.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { fieldValue, type PodFacts } from './env.js';

/** Volume name → the host directory holding its files. */
export type PodVolumes = Map<string, string>;

interface KeyToPath { key: string; path: string }

function writeKeys(dir: string, data: Record<string, Buffer>, items: KeyToPath[] | undefined, what: string): void {
  const chosen = items ?? Object.keys(data).map((key) => ({ key, path: key }));
  for (const { key, path } of chosen) {
    const value = data[key];
    if (value === undefined) throw new Error(`${what} has no key ${JSON.stringify(key)}`);
    const rel = normalize(path);
    if (rel.startsWith('..') || rel.startsWith('/')) throw new Error(`${what}: item path ${JSON.stringify(path)} leaves the volume`);
    mkdirSync(dirname(join(dir, rel)), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, rel), value, { mode: 0o600 });
  }
}

async function secretData(core: k8s.CoreV1Api, ns: string, name: string, what: string): Promise<Record<string, Buffer>> {
  const s = await core.readNamespacedSecret({ name, namespace: ns }).catch((e: unknown) => {
    throw new Error(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  });
  return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, b64]) => [k, Buffer.from(b64, 'base64')]));
}

async function configMapData(core: k8s.CoreV1Api, ns: string, name: string, what: string): Promise<Record<string, Buffer>> {
  const cm = await core.readNamespacedConfigMap({ name, namespace: ns }).catch((e: unknown) => {
    throw new Error(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  });
  return {
    ...Object.fromEntries(Object.entries(cm.data ?? {}).map(([k, s]) => [k, Buffer.from(s, 'utf8')])),
    ...Object.fromEntries(Object.entries(cm.binaryData ?? {}).map(([k, b64]) => [k, Buffer.from(b64, 'base64')])),
  };
}

async function writeProjected(core: k8s.CoreV1Api, pod: k8s.V1Pod, facts: PodFacts, v: k8s.V1Volume, dir: string): Promise<void> {
  const ns = pod.metadata?.namespace ?? 'default';
  for (const src of v.projected?.sources ?? []) {
    if (src.secret) {
      const what = `volume ${v.name}: Secret ${ns}/${src.secret.name}`;
      writeKeys(dir, await secretData(core, ns, src.secret.name!, what), src.secret.items, what);
    } else if (src.configMap) {
      const what = `volume ${v.name}: ConfigMap ${ns}/${src.configMap.name}`;
      writeKeys(dir, await configMapData(core, ns, src.configMap.name!, what), src.configMap.items, what);
    } else if (src.downwardAPI) {
      for (const item of src.downwardAPI.items ?? []) {
        const value = item.fieldRef ? fieldValue(pod, item.fieldRef.fieldPath, facts) : undefined;
        if (value === undefined) throw new Error(`volume ${v.name}: downwardAPI item ${item.path}: only supported fieldRefs`);
        writeKeys(dir, { v: Buffer.from(value) }, [{ key: 'v', path: item.path }], `volume ${v.name}`);
      }
    } else if (src.serviceAccountToken) {
      const sa = pod.spec?.serviceAccountName ?? 'default';
      const req = await core.createNamespacedServiceAccountToken({ name: sa, namespace: ns, body: {
        spec: { audiences: src.serviceAccountToken.audience ? [src.serviceAccountToken.audience] : [], expirationSeconds: src.serviceAccountToken.expirationSeconds ?? 3600,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata?.name, uid: pod.metadata?.uid } },
      } }).catch((e: unknown) => { throw new Error(`volume ${v.name}: token of ServiceAccount ${ns}/${sa}: ${e instanceof Error ? e.message : String(e)}`); });
      writeKeys(dir, { t: Buffer.from(req.status?.token ?? '') }, [{ key: 't', path: src.serviceAccountToken.path }], `volume ${v.name}`);
    } else {
      throw new Error(`volume ${v.name}: a projected source other than secret, configMap, downwardAPI or serviceAccountToken`);
    }
  }
}

/** Where a dev node keeps what its pods see as the host's filesystem. */
export interface NodeHost {
  /** The node's host filesystem: hostPath /x is `${hostRoot}/x`. */
  hostRoot: string;
}

/** The host directory (or file) behind a hostPath volume, created as its type asks. */
export function hostPathSource(v: k8s.V1Volume, node: NodeHost): string {
  const path = normalize(v.hostPath!.path);
  if (!path.startsWith('/')) throw new Error(`volume ${v.name}: hostPath ${JSON.stringify(v.hostPath!.path)} is not absolute`);
  const source = join(node.hostRoot, path);
  const type = v.hostPath!.type ?? '';
  if (type === '' || type === 'DirectoryOrCreate') {
    if (!existsSync(source)) mkdirSync(source, { recursive: true, mode: 0o755 });
  } else if (type === 'FileOrCreate') {
    if (!existsSync(source)) {
      mkdirSync(dirname(source), { recursive: true, mode: 0o755 });
      writeFileSync(source, '', { mode: 0o644 });
    }
  } else if (type === 'Directory' || type === 'File') {
    const found = existsSync(source) ? statSync(source) : undefined;
    if (!found || (type === 'Directory' ? !found.isDirectory() : !found.isFile())) {
      throw new Error(`volume ${v.name}: hostPath ${path} of type ${type} does not exist on the node (${source})`);
    }
  } else {
    throw new Error(`volume ${v.name}: hostPath type ${type} is not supported by the dev kubelet`);
  }
  return source;
}

/**
 * Fills `dir` with what `fill` writes, keeping the directory itself: running containers (a sidecar, the main
 * container while an init container runs) have it bind-mounted, and a new directory would not reach them.
 */
async function refreshDir(dir: string, fill: (dir: string) => void | Promise<void>): Promise<void> {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await fill(dir);
    return;
  }
  const staging = `${dir}.new`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o700 });
  try {
    await fill(staging);
    const fresh = new Set(readdirSync(staging));
    for (const old of readdirSync(dir)) if (!fresh.has(old)) rmSync(join(dir, old), { recursive: true, force: true });
    for (const name of fresh) {
      if (statSync(join(staging, name)).isDirectory()) rmSync(join(dir, name), { recursive: true, force: true });
      renameSync(join(staging, name), join(dir, name));
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Writes the pod's volumes under `root` and returns where each one is. Secret, ConfigMap and projected volumes are
 * rewritten with the objects as they are now; an emptyDir is made once and lives as long as the pod (what an init
 * container leaves there, the containers find).
 */
export async function preparePodVolumes(core: k8s.CoreV1Api, pod: k8s.V1Pod, facts: PodFacts, root: string, node: NodeHost): Promise<PodVolumes> {
  const ns = pod.metadata?.namespace ?? 'default';
  const volumes: PodVolumes = new Map();
  for (const v of pod.spec?.volumes ?? []) {
    if (v.hostPath) {
      volumes.set(v.name, hostPathSource(v, node));
      continue;
    }
    const dir = join(root, v.name);
    if (v.secret) {
      const what = `volume ${v.name}: Secret ${ns}/${v.secret.secretName}`;
      const data = await secretData(core, ns, v.secret.secretName!, what);
      await refreshDir(dir, (d) => writeKeys(d, data, v.secret!.items, what));
    } else if (v.configMap) {
      const what = `volume ${v.name}: ConfigMap ${ns}/${v.configMap.name}`;
      const data = await configMapData(core, ns, v.configMap.name!, what);
      await refreshDir(dir, (d) => writeKeys(d, data, v.configMap!.items, what));
    } else if (v.projected) {
      await refreshDir(dir, (d) => writeProjected(core, pod, facts, v, d));
    } else if (v.emptyDir) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } else {
      throw new Error(`volume ${v.name}: only secret, configMap, projected, emptyDir and hostPath volumes are supported by the dev kubelet`);
    }
    volumes.set(v.name, dir);
  }
  return volumes;
}

/** The bind mounts (host directory → mountPath) of one container; an unknown volume name is an error. */
export function containerMounts(c: k8s.V1Container, volumes: PodVolumes): { source: string; target: string }[] {
  return (c.volumeMounts ?? []).map((m) => {
    const source = volumes.get(m.name);
    if (!source) throw new Error(`container ${c.name}: volumeMount ${m.name} names no volume of the pod`);
    return { source: m.subPath ? join(source, normalize(m.subPath)) : source, target: m.mountPath };
  });
}

/**
 * A container's mounts made safe for a host process. Containers here run on the host's filesystem, not in an image
 * of their own: an emptyDir on /tmp (as charts give read-only-root pods) would hide this checkout when it lives under
 * /tmp, and a ConfigMap on /root (CoreDNS) the kubelet's state under /root/.local. Each path of `keep` that a mount
 * covers is bound back onto itself after the mounts (withMounts opens every source first and mounts parents first,
 * so the original directory is what comes back). Mounts under /sys are skipped: `ip netns exec` mounts a fresh
 * sysfs for the process, so nothing bound there (the BPF filesystem at /sys/fs/bpf) would reach it.
 */
export function mountsForHostProcess(mounts: { source: string; target: string }[], keep: string[]): { mounts: typeof mounts; skipped: typeof mounts } {
  const covers = (target: string, path: string): boolean => {
    const t = normalize(target).replace(/\/+$/, '') || '/';
    return t === '/' || path === t || path.startsWith(`${t}/`);
  };
  const skipped = mounts.filter((m) => covers('/sys', normalize(m.target)));
  const made = mounts.filter((m) => !skipped.includes(m));
  const bindBack = keep.map((p) => normalize(p)).filter((p) => made.some((m) => covers(m.target, p))).map((p) => ({ source: p, target: p }));
  return { mounts: [...made, ...bindBack], skipped };
}

/**
 * argv wrapped so the mounts are made first, in the process's own mount namespace (`ip netns exec` unshares one,
 * as a slave of the host's, so nothing propagates back), then the program is exec'd with the same PID.
 * Every source, and the program itself when its path is absolute, is opened before any mount (CoreDNS's ConfigMap
 * on /root would otherwise hide the sources under /root/.local and the binary under /root/.cache); the program is
 * exec'd through that descriptor (fd 9, left open), and the mounts are made parents first, as the kubelet does. A missing mount point is created (an empty directory is
 * all the host is left with).
 */
export function withMounts(argv: string[], mounts: { source: string; target: string }[]): string[] {
  if (mounts.length === 0) return argv;
  const ordered = [...mounts].sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  const fd = (i: number) => 10 + i;
  // One exec per descriptor: bash 5.2 keeps only the first of several fds above 9 opened by a single exec. And
  // --no-canonicalize, or mount(8) resolves /proc/self/fd/N to its path name, which an earlier mount may now cover.
  const open = ordered.map((_, i) => `exec ${fd(i)}<"\${${2 * i + 1}}" &&`).join(' ');
  const binds = ordered.map((_, i) => `mkdir -p "\${${2 * i + 2}}" && mount --no-canonicalize --bind /proc/self/fd/${fd(i)} "\${${2 * i + 2}}" &&`).join(' ');
  const close = ordered.map((_, i) => `${fd(i)}<&-`).join(' ');
  const program = argv[0].startsWith('/') ? `exec 9<"\${${2 * ordered.length + 1}}" &&` : '';
  const run = program ? 'exec -a "$1" /proc/self/fd/9 "${@:2}"' : 'exec "$@"';
  const script = `${open} ${program} ${binds} exec ${close} && shift ${2 * ordered.length} && ${run}`;
  return ['bash', '-c', script, 'bash', ...ordered.flatMap((m) => [m.source, m.target]), ...argv];
}
