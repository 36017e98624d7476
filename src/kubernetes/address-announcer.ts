// Puts the Gateway addresses this node serves on one of its interfaces (as /32), so that Envoy can bind them and
// the node answers ARP for them: what a LoadBalancer's L2 announcement does. Only addresses it added are removed.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../log/logger.js';

const run = promisify(execFile);

export class AddressAnnouncer {
  private readonly added = new Set<string>();

  constructor(private readonly iface: string, private readonly log: Logger) {}

  /** Makes the interface carry exactly `addresses` among those this announcer manages. */
  async announce(addresses: Iterable<string>): Promise<void> {
    const want = new Set(addresses);
    for (const ip of want) {
      if (this.added.has(ip)) continue;
      await this.ip('addr', 'replace', `${ip}/32`, 'dev', this.iface);
      this.added.add(ip);
      this.log.info({ address: ip, interface: this.iface }, 'announcing Gateway address');
    }
    for (const ip of [...this.added]) {
      if (want.has(ip)) continue;
      await this.ip('addr', 'del', `${ip}/32`, 'dev', this.iface).catch(() => undefined);
      this.added.delete(ip);
      this.log.info({ address: ip, interface: this.iface }, 'withdrawing Gateway address');
    }
  }

  async withdrawAll(): Promise<void> {
    await this.announce([]);
  }

  private async ip(...args: string[]): Promise<void> {
    try {
      await run('ip', args);
    } catch (err) {
      throw new Error(`ip ${args.join(' ')}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`, { cause: err });
    }
  }
}
