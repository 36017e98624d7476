// Datapath map sizes, counted at scrape time (a key walk per map: cheap next to the maps' capacity).
import type { Registry } from 'prom-client';
import type { BpfMap } from '../datapath/bpf-map.js';
import type { Datapath } from '../datapath/datapath.js';
import { METRICS } from './catalogue.js';
import { gauge } from './registry.js';

export function registerDatapathMetrics(registry: Registry, datapath: Datapath): void {
  gauge(registry, METRICS.datapathMapEntries, function () {
    for (const [name, map] of Object.entries(datapath.maps) as Array<[string, BpfMap]>) {
      if (name === 'config') continue;
      try {
        this.set({ map: name }, map.keys().length);
      } catch {
        // closed while scraping: nothing to report
      }
    }
  });
}

/** The node agent's view of the pods' programs (attached or missing), checked at scrape time. */
export function registerEndpointProgramMetrics(registry: Registry, check: () => Promise<{ attached: number; missing: string[] }>): void {
  gauge(registry, METRICS.datapathEndpointPrograms, async function () {
    try {
      const { attached, missing } = await check();
      this.set({ state: 'attached' }, attached);
      this.set({ state: 'missing' }, missing.length);
    } catch {
      // ip/tc unavailable: nothing to report
    }
  });
}
