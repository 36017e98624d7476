// Network namespaces and veth pairs through iproute2. The local cluster lives in namespaces of its own; the host
// only gets a veth with a connected route to the cluster's management subnet, never a route out of the cluster.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args);
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

export async function ipIn(netns: string, ...args: string[]): Promise<string> {
  return ip('-n', netns, ...args);
}

export async function namespaceExists(name: string): Promise<boolean> {
  const out = await ip('netns', 'list');
  return out.split('\n').some((line) => line.split(' ')[0] === name);
}

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  try {
    await (netns ? ipIn(netns, 'link', 'show', name) : ip('link', 'show', name));
    return true;
  } catch {
    return false;
  }
}

/** Creates `name` with its loopback up. */
export async function createNamespace(name: string): Promise<void> {
  await ip('netns', 'add', name);
  await ipIn(name, 'link', 'set', 'lo', 'up');
}

export async function deleteNamespace(name: string): Promise<void> {
  if (await namespaceExists(name)) await ip('netns', 'delete', name);
}

export interface VethEnd {
  /** Namespace holding this end; undefined for the host's own namespace. */
  netns?: string;
  name: string;
  /** Address with prefix length, e.g. 10.77.0.1/24. */
  address?: string;
}

let vethCounter = 0;

/** Creates a veth pair between two namespaces, addresses both ends and brings them up. */
export async function createVeth(a: VethEnd, b: VethEnd): Promise<void> {
  // Create both ends in the host namespace under temporary names, then move and rename: names only have to be
  // unique per namespace, so every pod's end can be called eth0.
  const id = `wt${process.pid.toString(36)}${(vethCounter++).toString(36)}`;
  const tmpA = `${id}a`;
  const tmpB = `${id}b`;
  await ip('link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB);
  for (const [tmp, end] of [[tmpA, a], [tmpB, b]] as const) {
    const inNs = (...args: string[]) => (end.netns ? ipIn(end.netns, ...args) : ip(...args));
    if (end.netns) await ip('link', 'set', tmp, 'netns', end.netns);
    await inNs('link', 'set', tmp, 'name', end.name);
    if (end.address) await inNs('addr', 'add', end.address, 'dev', end.name);
    await inNs('link', 'set', end.name, 'up');
  }
}
