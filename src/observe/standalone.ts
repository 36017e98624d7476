// Flows in `weft run`: a flow agent beside the standalone runner. It follows the L7 policy listeners' access log
// file (the runner's translate options have its lines carry what flows need), and every reload refreshes the
// directory flows are enriched from (the translation's identities; the Services of the same directory,
// read after the reload so that the reload itself does not wait for them).
import type { Registry } from 'prom-client';
import { Datapath } from '../datapath/datapath.js';
import type { RotationReader } from '../l7policy/access-log-limit.js';
import type { Logger } from '../log/logger.js';
import { registerDatapathMetrics } from '../metrics/datapath.js';
import { classifyManifests } from '../sources/kinds.js';
import { loadManifestDir } from '../sources/manifests.js';
import type { Translation, TranslateOptions } from '../standalone/pipeline.js';
import { FlowAgent } from './agent.js';
import { directoryFromIdentities, serviceRecords } from './directory-sources.js';
import { mtlsFromDir } from './mtls.js';

export interface StandaloneFlowsOptions {
  node: string;
  /** host:port of the flow API. */
  listen: string;
  tlsDir?: string;
  /** The datapath's pinned maps, for L3/L4 flows; none: L7 flows only. */
  bpfPinRoot?: string;
  ringCapacity?: number;
  /** The runner's registry: flow counts, and the datapath's map sizes with a datapath. */
  registry?: Registry;
  /** Where a failure to read the L7 access log is reported. */
  logger?: Logger;
}

export class StandaloneFlows {
  private constructor(readonly agent: FlowAgent, private readonly datapath: Datapath | undefined) {}

  static async start(o: StandaloneFlowsOptions): Promise<StandaloneFlows> {
    const datapath = o.bpfPinRoot ? Datapath.open({ pinRoot: o.bpfPinRoot }) : undefined;
    const agent = await FlowAgent.start({
      node: o.node, listen: o.listen,
      ...(o.tlsDir ? { mtls: mtlsFromDir(o.tlsDir) } : {}), ...(datapath ? { flowsMapFd: datapath.flowsMapFd } : {}), ...(o.ringCapacity ? { ringCapacity: o.ringCapacity } : {}),
      ...(o.registry ? { registry: o.registry } : {}), ...(o.logger ? { logger: o.logger } : {}),
    });
    if (datapath && o.registry) registerDatapathMetrics(o.registry, datapath);
    return new StandaloneFlows(agent, datapath);
  }

  /** The runner's translate options: the L7 listeners' access log lines carry what flows need. */
  translateOptions(base: TranslateOptions = {}): TranslateOptions {
    return { ...base, l7: { ...base.l7, accessLogForFlows: true } };
  }

  /** Follows the runner's L7 access log file (its size limit rotates around the tail). */
  followL7AccessLog(file: string): RotationReader {
    return this.agent.followL7AccessLog(file);
  }

  /** After each reload of `dir`. */
  reloaded(dir: string, t: Translation): void {
    if (!t.l7) return;
    const table = t.l7.table;
    this.agent.directory = directoryFromIdentities(this.agent.directory.node, table);
    setImmediate(() => {
      try {
        const services = serviceRecords(classifyManifests(loadManifestDir(dir).manifests).inputs.services);
        this.agent.directory = directoryFromIdentities(this.agent.directory.node, table, services);
      } catch {
        // The directory vanished between the reload and now: the next reload says so.
      }
    });
  }

  stop(): void {
    this.agent.stop();
    this.datapath?.close();
  }
}
