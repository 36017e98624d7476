// `weft run -c DIR`: standalone mode. Translates a directory of Gateway API manifests, serves the
// result to a local Envoy it starts and supervises, and follows every change to the directory.
import { createLogger } from '../log/logger.js';
import { startDemoBackends, stopDemoBackends, type DemoBackend } from '../standalone/demo-backends.js';
import { StandaloneRunner, type StandaloneMeshSettings } from '../standalone/runner.js';
import type { TranslateOptions } from '../standalone/pipeline.js';
import { StandaloneFlows, type StandaloneFlowsOptions } from '../observe/standalone.js';
import { processRegistry } from '../metrics/registry.js';

export interface RunOptions {
  dir: string;
  protocol: 'delta' | 'sotw';
  adminPort: number;
  demoBackends: boolean;
  translate?: TranslateOptions;
  /** Also run a flow agent (src/observe): `weft observe -s <listen>`. */
  flows?: StandaloneFlowsOptions;
  /** The mesh, when a CiliumNetworkPolicy requires authentication. */
  mesh?: StandaloneMeshSettings;
  l7AccessLogMaxBytes?: number;
}

export async function runStandalone(opts: RunOptions): Promise<void> {
  const log = createLogger('weft');
  let backends: DemoBackend[] = [];
  if (opts.demoBackends) {
    backends = await startDemoBackends();
    log.info({ backends: backends.map((b) => `${b.name}=127.0.0.1:${b.port}`) }, 'demo backends listening');
  }
  // One registry for the process: the admin endpoint's /metrics shows the runner's and the flow agent's metrics.
  const registry = processRegistry();
  const flows = opts.flows ? await StandaloneFlows.start({ ...opts.flows, registry, logger: log.child({ component: 'flows' }) }) : undefined;
  const translate = flows ? flows.translateOptions(opts.translate) : opts.translate;
  const runner = new StandaloneRunner({ dir: opts.dir, protocol: opts.protocol, adminPort: opts.adminPort, logger: log, registry, ...(translate ? { translate } : {}), ...(opts.mesh ? { mesh: opts.mesh } : {}), ...(opts.l7AccessLogMaxBytes ? { l7AccessLogMaxBytes: opts.l7AccessLogMaxBytes } : {}), ...(flows ? { followL7AccessLog: (file: string) => flows.followL7AccessLog(file) } : {}) });
  if (flows) {
    runner.on('reloaded', (t) => flows.reloaded(opts.dir, t));
    log.info({ port: flows.agent.observerPort }, 'flows served (weft observe)');
  }

  let stopping: Promise<void> | undefined;
  const stop = (signal: string): Promise<void> =>
    (stopping ??= (async () => {
      log.info({ signal }, 'stopping');
      await runner.stop();
      flows?.stop();
      await stopDemoBackends(backends);
      log.info('stopped');
    })());
  const onSignal = (signal: NodeJS.Signals): void => {
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  if (opts.demoBackends) {
    runner.once('ready', () => {
      // The quickstart's hints fit its Gateway; a directory of Ingresses (examples/ingress) gets its own.
      if (!runner.last?.statuses.some((s) => s.kind === 'Gateway')) {
        const lines = (runner.last?.statuses ?? [])
          .filter((st) => st.kind === 'Ingress')
          .map((st) => {
            const lb = (st.status.loadBalancer ?? {}) as { ingress?: Array<{ ip: string; ports?: Array<{ port: number }> }> };
            const at = (lb.ingress ?? []).map((i) => `${i.ip} ports ${(i.ports ?? []).map((p) => p.port).join(', ')}`).join('; ') || 'not served (see the problems above)';
            return `  Ingress ${st.namespace}/${st.name}: ${at}`;
          });
        process.stdout.write(['Ingresses (curl them with a Host header):', ...lines, `Edit the files in ${opts.dir}: Weft reloads them. Ctrl-C stops.`, ''].join('\n'));
        return;
      }
      const port = runner.last?.ir.httpListeners[0]?.port ?? 10080;
      const base = `127.0.0.1:${port}`;
      process.stdout.write(
        [
          'Try:',
          `  curl -s ${base}/blue/anything            # -> blue /blue/anything  (path match /blue)`,
          `  curl -s -H 'x-color: blue' ${base}/      # -> blue /               (header match x-color: blue)`,
          `  for i in $(seq 20); do curl -s ${base}/; done | sort | uniq -c   # ~16 green, ~4 blue (80/20 split)`,
          `  curl -s 127.0.0.1:${runner.adminPort ?? opts.adminPort}/debug/xds   # what Envoy ACKed or rejected, per type`,
          `Edit the files in ${opts.dir}: Weft reloads them and logs status changes (stderr). Ctrl-C stops.`,
          '',
        ].join('\n'),
      );
    });
  }

  try {
    await runner.start();
  } catch (err) {
    await stop('start failed');
    throw err;
  }
}
