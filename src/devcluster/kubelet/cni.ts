// Pod sandboxes: a network namespace per pod, wired by Weft's CNI plugin (bin/weft-cni) as a container runtime
// calls it: CNI_COMMAND/CNI_CONTAINERID (the pod's UID)/CNI_NETNS/CNI_IFNAME=eth0 in the environment, the network
// configuration on stdin.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../../envoy/binary.js';
import { kubeletPaths, type KubeletOptions } from './options.js';

const run = promisify(execFile);

export function cniConfig(o: KubeletOptions): Record<string, unknown> {
  return {
    cniVersion: '1.1.0', name: `weft-${o.nodeName}`, type: 'weft-cni', podCIDR: o.podCidr,
    dataDir: kubeletPaths(o).cni, nodeNetns: `/run/netns/${o.nodeNetns}`, bpfPinRoot: o.bpfPinRoot,
  };
}

function callPlugin(o: KubeletOptions, command: string, containerId: string, netns: string, extraConf: Record<string, unknown> = {}): Promise<string> {
  const bin = join(projectRoot(), 'bin', 'weft-cni');
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: containerId,
    CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: join(projectRoot(), 'bin'), WEFT_CNI_LOCK: kubeletPaths(o).cniLock,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      let msg = out.trim() || err.trim();
      try {
        const e = JSON.parse(out) as { code?: number; msg?: string; details?: string };
        msg = `error ${e.code}: ${e.msg}${e.details ? ` (${e.details})` : ''}`;
      } catch { /* not a CNI error object */ }
      reject(new Error(`CNI ${command} for ${containerId}: ${msg}`));
    });
    child.stdin.end(JSON.stringify({ ...cniConfig(o), ...extraConf }));
  });
}

export async function namespaceExists(name: string): Promise<boolean> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').some((l) => l.split(' ')[0] === name);
}

/** Creates the pod's namespace and runs CNI ADD; returns the pod's IPv4 address. */
export async function createSandbox(o: KubeletOptions, uid: string, netns: string): Promise<string> {
  if (!(await namespaceExists(netns))) {
    await run('ip', ['netns', 'add', netns]);
  }
  const result = JSON.parse(await callPlugin(o, 'ADD', uid, `/run/netns/${netns}`)) as { ips?: Array<{ address: string }> };
  const address = result.ips?.[0]?.address.split('/')[0];
  if (!address) throw new Error(`CNI ADD for ${uid} returned no address`);
  return address;
}

/** CNI DEL (idempotent) and the namespace removed. */
export async function removeSandbox(o: KubeletOptions, uid: string, netns: string): Promise<void> {
  await callPlugin(o, 'DEL', uid, (await namespaceExists(netns)) ? `/run/netns/${netns}` : '');
  if (await namespaceExists(netns)) await run('ip', ['netns', 'delete', netns]);
}

/** CNI GC: releases every attachment but those of `live` pod UIDs. */
export async function collectSandboxes(o: KubeletOptions, live: string[]): Promise<void> {
  await callPlugin(o, 'GC', 'gc', '', { 'cni.dev/valid-attachments': live.map((uid) => ({ containerID: uid, ifname: 'eth0' })) });
}
