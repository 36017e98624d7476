// The quickstart as README shows it: `weft run -c examples/quickstart --demo-backends` (on a copy of
// the directory with the Gateway moved to a free port), and the three behaviours its curls show.
import test from 'ava';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, freePort } from './helpers/net.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function curl(port: number, urlPath: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { headers });
  if (res.status !== 200) throw new Error(`GET ${urlPath}: ${res.status}`);
  return (await res.text()).trim();
}

test('the quickstart: path match, header match and the 80/20 split, through weft run --demo-backends', async (t) => {
  const port = await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-quickstart-'));
  cpSync(path.join(root, 'examples/quickstart'), dir, { recursive: true });
  const gateway = path.join(dir, 'gateway.yaml');
  const text = readFileSync(gateway, 'utf8');
  t.true(text.includes('port: 10080'), 'the quickstart Gateway listens on 10080');
  writeFileSync(gateway, text.replace('port: 10080', `port: ${port}`));

  const child = spawn(path.join(root, 'bin/weft'), ['run', '-c', dir, '--demo-backends', '--admin-port', String(adminPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  await eventually(() => stdout.includes('Ctrl-C stops') || child.exitCode !== null, 30_000, 'the ready line and the curl commands').catch((err: Error) => {
    throw new Error(`${err.message}\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`);
  });
  t.regex(stdout, /weft: ready: 1 Gateway programmed/);
  t.true(stdout.includes(`curl -s 127.0.0.1:${port}/blue/anything`), stdout);
  t.true(stdout.includes(`curl -s -H 'x-color: blue' 127.0.0.1:${port}/`), stdout);
  t.true(stdout.includes(`for i in $(seq 20); do curl -s 127.0.0.1:${port}/; done | sort | uniq -c`), stdout);

  t.is(await curl(port, '/blue/anything'), 'blue /blue/anything', 'path match');
  t.is(await curl(port, '/', { 'x-color': 'blue' }), 'blue /', 'header match');
  const counts = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const body = await curl(port, '/');
    counts.set(body, (counts.get(body) ?? 0) + 1);
  }
  t.deepEqual([...counts.keys()].sort(), ['blue /', 'green /'], 'the split reaches both backends and nothing else');
  // 80/20 over 200 requests: green is the majority (binomial; failing this by chance is ~1e-30).
  t.true(counts.get('green /')! > counts.get('blue /')!, JSON.stringify([...counts]));

  child.kill('SIGINT');
  t.is(await exited, 0, stderr.slice(-4000));
});
