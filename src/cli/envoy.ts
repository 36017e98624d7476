// `weft envoy`: the node's Envoy on its own, supervised (restarted with backoff), fed by the agent over a UNIX
// socket. Separate from the agent so that an agent restart or upgrade never interrupts traffic: Envoy keeps its
// configuration and reconnects to the agent's socket.
import { nodeBootstrap } from '../../envoy/bootstrap.js';
import { EnvoySupervisor } from '../../envoy/process.js';
import { createLogger } from '../log/logger.js';

export interface EnvoyFlags { node: string; xdsSocket: string; protocol: string }

export async function runEnvoy(flags: EnvoyFlags): Promise<void> {
  if (flags.protocol !== 'delta' && flags.protocol !== 'sotw') throw new Error(`--protocol must be delta or sotw, not ${flags.protocol}`);
  const log = createLogger('envoy');
  const supervisor = new EnvoySupervisor({
    bootstrap: nodeBootstrap({ nodeId: flags.node, xds: { unix: flags.xdsSocket }, protocol: flags.protocol }),
    logger: log,
  }, log.child({ component: 'supervisor' }));
  const proc = await supervisor.start();
  log.info({ node: flags.node, envoyPid: proc.pid, admin: proc.adminUrl, xds: flags.xdsSocket }, 'envoy started');
  process.stdout.write(`weft envoy: started: pid ${proc.pid}, admin ${proc.adminUrl}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => void supervisor.stop().then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
