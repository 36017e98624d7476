// Puts the Gateway addresses this node announces on one of its interfaces (as /32), so that the node answers ARP
// for them: what a LoadBalancer's L2 announcement does (which node announces which address is elected, see
// announcement-election.ts). Its addresses carry a label of their own, so a restarted agent finds (and keeps, or
// removes) what an earlier one added, and never touches others. A newly added address is also sent as a gratuitous
// ARP (when `arping` is installed), so that neighbours holding another node's MAC for it switch at once.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../log/logger.js';

const run = promisify(execFile);

export class AddressAnnouncer {
  readonly label: string;
  /** What the last completed announce() left on the interface. */
  private announced: Set<string> | undefined;
  private arpingMissingLogged = false;

  constructor(private readonly iface: string, private readonly log: Logger) {
    // Address labels must start with the interface name and fit in 15 characters.
    this.label = `${iface}:wg`;
    if (this.label.length > 15) throw new Error(`--announce-interface ${iface}: name too long for an address label`);
  }

  /** The addresses currently on the interface under this announcer's label. */
  async current(): Promise<Set<string>> {
    const out = await this.ip('-o', '-4', 'addr', 'show', 'dev', this.iface, 'label', this.label);
    const found = new Set<string>();
    for (const m of out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\/32/g)) found.add(m[1]);
    return found;
  }

  /**
   * Makes the interface carry exactly `addresses` under this announcer's label; those in `keep` (elections not decided
   * yet) stay as they are. The agent calls this before serving each translation: when the set is the one the last
   * call left in place, nothing runs (an `ip` process per translation cost tens of milliseconds on the path from a new
   * route to Envoy, more on a busy node). So an address someone else removes comes back only with the next change of
   * the set (or an agent restart).
   */
  async announce(addresses: Iterable<string>, keep: ReadonlySet<string> = new Set()): Promise<void> {
    const want = new Set(addresses);
    if (this.announced && this.announced.size === want.size && [...want].every((ip) => this.announced!.has(ip))) return;
    this.announced = undefined; // unknown until this call completes (an `ip` failure leaves it so: the next call looks again)
    const have = await this.current();
    for (const ip of want) {
      if (have.has(ip)) continue;
      await this.ip('addr', 'replace', `${ip}/32`, 'dev', this.iface, 'label', this.label);
      this.log.info({ address: ip, interface: this.iface }, 'announcing Gateway address');
      await this.gratuitousArp(ip);
    }
    for (const ip of have) {
      if (want.has(ip) || keep.has(ip)) continue;
      await this.ip('addr', 'del', `${ip}/32`, 'dev', this.iface);
      this.log.info({ address: ip, interface: this.iface }, 'withdrawing Gateway address');
    }
    this.announced = new Set([...want, ...[...have].filter((ip) => keep.has(ip))]);
  }

  async withdrawAll(): Promise<void> {
    await this.announce([]);
  }

  /** An unsolicited ARP for `ip` from this interface; without arping, neighbours learn the new MAC when theirs expires. */
  private async gratuitousArp(ip: string): Promise<void> {
    try {
      await run('arping', ['-U', '-c', '1', '-I', this.iface, ip], { timeout: 5000 });
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      if (missing && this.arpingMissingLogged) return;
      if (missing) this.arpingMissingLogged = true;
      this.log.warn({ address: ip, err: missing ? 'arping not installed' : (err as Error).message }, 'no gratuitous ARP sent');
    }
  }

  private async ip(...args: string[]): Promise<string> {
    try {
      return (await run('ip', args)).stdout;
    } catch (err) {
      throw new Error(`ip ${args.join(' ')}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`, { cause: err });
    }
  }
}
