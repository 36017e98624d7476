// Interface and route changes through iproute2, run inside a given network namespace (by path) with
// nsenter; '' means the plugin's own namespace.
import { execFileSync } from 'node:child_process';

export class CommandError extends Error {
  constructor(readonly command: string, readonly stderr: string) {
    super(`${command}: ${stderr.trim()}`);
  }
}

export function run(netns: string, cmd: string, ...args: string[]): string {
  const argv = netns ? ['nsenter', `--net=${netns}`, cmd, ...args] : [cmd, ...args];
  try {
    return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string };
    throw new CommandError(argv.join(' '), e.stderr ?? String(err));
  }
}

export function ip(netns: string, ...args: string[]): string {
  return run(netns, 'ip', ...args);
}

export interface LinkInfo { ifname: string; address: string; ifindex: number }

export function link(netns: string, ifname: string): LinkInfo | undefined {
  try {
    const [l] = JSON.parse(ip(netns, '-j', 'link', 'show', 'dev', ifname)) as LinkInfo[];
    return l;
  } catch (err) {
    if (err instanceof CommandError && /does not exist|Cannot find device/.test(err.stderr)) return undefined;
    throw err;
  }
}

export function addresses(netns: string, ifname: string): string[] {
  const [l] = JSON.parse(ip(netns, '-j', 'addr', 'show', 'dev', ifname)) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>;
  return l.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
}

export function sysctl(netns: string, key: string, value: string): void {
  run(netns, 'sysctl', '-qw', `${key}=${value}`);
}
