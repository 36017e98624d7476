#!/usr/bin/env node
// The `weft` command.
import { Command } from 'commander';
import { printVersion } from './version.js';
import { runDemo } from './demo.js';

const program = new Command();
program.name('weft').description('Weft: a sidecarless service mesh centred on Envoy').showHelpAfterError();

program
  .command('version')
  .description('print the versions of Weft, Node and the Envoy binary Weft would use')
  .action(async () => {
    await printVersion();
  });

program
  .command('demo')
  .description('start the control plane and a local Envoy with a small demo configuration')
  .option('--port <port>', 'port of the demo HTTP listener on 127.0.0.1', '10080')
  .option('--admin-port <port>', 'port of Weft\'s own admin endpoint (/metrics, /debug/xds) on 127.0.0.1', '9901')
  .option('--protocol <protocol>', 'xDS flavour Envoy uses: delta or sotw', 'delta')
  .action(async (opts: { port: string; adminPort: string; protocol: string }) => {
    if (opts.protocol !== 'delta' && opts.protocol !== 'sotw') throw new Error(`--protocol must be delta or sotw, not ${opts.protocol}`);
    await runDemo({ port: parsePort(opts.port, '--port'), adminPort: parsePort(opts.adminPort, '--admin-port'), protocol: opts.protocol });
  });

function parsePort(value: string, flag: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${flag} must be a port number (1-65535), not "${value}"`);
  return port;
}

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`weft: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
