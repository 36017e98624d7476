// `weft connectivity test --standalone` end to end, as a user runs it (the CLI as a child process, as root):
// every check passes (or skips with a reason), a deliberately broken policy or Service makes the matching check
// fail with a clear reason and exit 1, Ctrl-C in the middle removes everything, and without root it says so and
// exits 2. After every run nothing of it is left: namespaces, processes, BPF pins, cgroup, temporary directories.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveEnvoyBinary } from '../envoy/binary.js';
import { cgroup2Root } from '../src/datapath/cgroup.js';
import { datapathUnavailable } from '../src/datapath/native.js';
import { formatJson, formatText, summarize, type ConnectivityReport } from '../src/connectivity/report.js';
import { parseFaults } from '../src/connectivity/command.js';
import { CGROUP_PREFIX, PIN_ROOT_PREFIX } from '../src/connectivity/datapath.js';
import { NAMESPACE_PREFIX, RUN_ENV } from '../src/connectivity/namespaces.js';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const CHECKS = ['pod-to-pod', 'pod-to-service', 'gateway', 'l7-policy-allow', 'l7-policy-deny', 'mutual-auth'];

function envoyMissing(): string | undefined {
  try {
    resolveEnvoyBinary();
    return undefined;
  } catch (err) {
    return `no Envoy binary: ${(err as Error).message}`;
  }
}
const unavailable = datapathUnavailable() ?? (cgroup2Root() ? undefined : 'no cgroup v2 hierarchy') ?? envoyMissing();

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `weft connectivity test ARGS`; `onStderr` sees stderr as it grows and may signal the child. */
function weft(args: string[], env: Record<string, string> = {}, onStderr?: (text: string, child: ReturnType<typeof spawn>) => void, wrap: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const cmd = [...wrap, process.execPath, main, 'connectivity', 'test', ...args];
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, child);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** What a run left behind: namespaces, processes carrying its run id, BPF pins, its cgroup, temporary directories. */
function leftovers(runId: string): string[] {
  const out: string[] = [];
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of namespaces.split('\n')) if (line.startsWith(`${NAMESPACE_PREFIX}${runId}-`)) out.push(`namespace ${line.split(' ')[0]}`);
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    if (environ.split('\0').includes(`${RUN_ENV}=${runId}`)) {
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ');
      } catch {
        // gone meanwhile
      }
      out.push(`process ${pid} ${cmdline}`);
    }
  }
  if (existsSync(`${PIN_ROOT_PREFIX}${runId}`)) out.push(`BPF pins ${PIN_ROOT_PREFIX}${runId}`);
  const cgroup = path.join(cgroup2Root()!, `${CGROUP_PREFIX}${runId}`);
  if (existsSync(cgroup)) out.push(`cgroup ${cgroup}`);
  for (const d of readdirSync(tmpdir())) if (d.startsWith(`weft-connectivity-${runId}-`)) out.push(`directory ${d}`);
  return out;
}

function report(run: Run): ConnectivityReport {
  try {
    return JSON.parse(run.stdout) as ConnectivityReport;
  } catch {
    throw new Error(`no JSON report (exit ${run.code}): stdout ${run.stdout} stderr ${run.stderr}`);
  }
}

const byName = (r: ConnectivityReport, name: string) => r.checks.find((c) => c.name === name);

if (process.getuid?.() !== 0) {
  test('without root it says so and exits 2', async (t) => {
    const run = await weft(['--standalone']);
    t.is(run.code, 2);
    t.regex(run.stderr, /needs root/);
  });
} else {
  test('without root it says so and exits 2', async (t) => {
    const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    try {
      execFileSync(asNobody[0], [...asNobody.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(main)})`], { stdio: 'pipe' });
    } catch (err) {
      t.log(`skipped: user nobody cannot run Node on ${main} here (${(err as Error).message.split('\n')[0]})`);
      t.pass();
      return;
    }
    const run = await weft(['--standalone'], {}, undefined, asNobody);
    t.is(run.code, 2, run.stderr);
    t.regex(run.stderr, /needs root/);
  });
}

test('Kubernetes mode says it is not implemented and exits 2; no mode is a usage error', async (t) => {
  const k8s = await weft(['--kubeconfig', '/nonexistent']);
  t.is(k8s.code, 2);
  t.regex(k8s.stderr, /Kubernetes mode .* not implemented/);
  const none = await weft([]);
  t.is(none.code, 2);
  t.regex(none.stderr, /--standalone/);
});

if (unavailable) {
  test('weft connectivity test --standalone', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  test.serial('every check passes or skips with a reason, and nothing is left behind', async (t) => {
    const run = await weft(['--standalone', '-o', 'json']);
    const r = report(run);
    t.is(run.code, 0, run.stderr);
    t.deepEqual(r.checks.map((c) => c.name), CHECKS);
    for (const c of r.checks) {
      t.true(c.status === 'PASS' || (c.status === 'SKIP' && (c.reason ?? '').length > 10), `${c.name}: ${c.status} ${c.reason ?? ''}`);
      t.true(c.durationMs >= 0);
    }
    for (const name of CHECKS) t.is(byName(r, name)?.status, 'PASS', `${name}: ${byName(r, name)?.reason ?? ''}`);
    t.regex(byName(r, 'mutual-auth')!.detail!, /sa\/client → spiffe:.*sa\/echo, verified/);
    t.deepEqual(r.summary.failed, 0);
    t.deepEqual(leftovers(r.runId), []);
  });

  test.serial('text output: one line per check and the totals', async (t) => {
    const run = await weft(['--standalone']);
    t.is(run.code, 0, run.stderr);
    for (const name of CHECKS) t.regex(run.stdout, new RegExp(`^  PASS  ${name} +\\d+ ms  \\S`, 'm'));
    t.regex(run.stdout, /^6 passed, 0 failed, 0 skipped$/m);
    const runId = /run ([0-9a-f]+)\)/.exec(run.stdout)![1];
    t.deepEqual(leftovers(runId), []);
  });

  test.serial('a policy that allows every path fails l7-policy-deny with the reason, and exits 1', async (t) => {
    const run = await weft(['--standalone', '-o', 'json'], { WEFT_CONNECTIVITY_FAULT: 'l7-allow-all' });
    const r = report(run);
    t.is(run.code, 1);
    const deny = byName(r, 'l7-policy-deny')!;
    t.is(deny.status, 'FAIL');
    t.regex(deny.reason!, /expected 403 "Access denied", got HTTP 200/);
    t.is(byName(r, 'l7-policy-allow')?.status, 'PASS', 'only the matching check fails');
    t.is(byName(r, 'pod-to-pod')?.status, 'PASS');
    t.deepEqual(r.summary.failed, 1);
    t.deepEqual(leftovers(r.runId), []);
  });

  test.serial('a Service without backends fails pod-to-service with the reason, and exits 1', async (t) => {
    const run = await weft(['--standalone', '-o', 'json'], { WEFT_CONNECTIVITY_FAULT: 'no-service-backend' });
    const r = report(run);
    t.is(run.code, 1);
    const service = byName(r, 'pod-to-service')!;
    t.is(service.status, 'FAIL');
    t.regex(service.reason!, /10\.96\.0\.10:80.*expected 200 from echo through the socket load balancer, got no answer/);
    t.is(byName(r, 'gateway')?.status, 'PASS');
    t.deepEqual(leftovers(r.runId), []);
  });

  test.serial('node 2 not trusting the client\'s CA fails mutual-auth with the reason, and exits 1', async (t) => {
    const run = await weft(['--standalone', '-o', 'json'], { WEFT_CONNECTIVITY_FAULT: 'mtls-untrusted' });
    const r = report(run);
    t.is(run.code, 1);
    const mtls = byName(r, 'mutual-auth')!;
    t.is(mtls.status, 'FAIL');
    t.regex(mtls.reason!, /expected 200 from echo-mtls, got HTTP 503 .*mTLS handshake failed or was refused/);
    t.deepEqual(r.summary, { passed: 5, failed: 1, skipped: 0 });
    t.deepEqual(leftovers(r.runId), []);
  });

  test.serial('Ctrl-C while it runs removes everything it created', async (t) => {
    let during: string[] = [];
    let runId = '';
    let signalled = false;
    const run = await weft(['--standalone'], {}, (stderr, child) => {
      const id = new RegExp(`${NAMESPACE_PREFIX}([0-9a-f]+)-node`).exec(stderr);
      if (id) runId = id[1]!;
      // The node Envoy runs by then; the mesh Envoys are starting.
      if (!signalled && stderr.includes('starting a second node')) {
        signalled = true;
        during = leftovers(runId);
        child.kill('SIGINT');
      }
    });
    t.true(signalled, run.stderr);
    // The leftover scan sees what a run creates, so its empty answer below means something.
    t.true(during.filter((l) => l.startsWith('namespace')).length >= 3, during.join('\n'));
    t.true(during.some((l) => l.startsWith('process') && l.includes('echo-main.js')), during.join('\n'));
    t.true(during.some((l) => l.startsWith('process') && /envoy -c/.test(l)), during.join('\n'));
    t.true(during.some((l) => l.startsWith('BPF pins')), during.join('\n'));
    t.is(run.code, 130, run.stderr);
    t.regex(run.stderr, /SIGINT: removing what run [0-9a-f]+ created/);
    t.deepEqual(leftovers(runId), []);
  });

  test.serial('a setup failure (no Envoy binary) is reported in the JSON, exits 1 and leaves nothing', async (t) => {
    const run = await weft(['--standalone', '-o', 'json'], { WEFT_ENVOY_BIN: '/nonexistent/envoy' });
    const r = report(run);
    t.is(run.code, 1);
    t.deepEqual(r.checks, []);
    t.regex(r.error!, /setup failed: WEFT_ENVOY_BIN=\/nonexistent\/envoy is not an executable file/);
    t.deepEqual(leftovers(r.runId), []);
  });

  test('an unknown fault name is refused before anything is created', async (t) => {
    const run = await weft(['--standalone'], { WEFT_CONNECTIVITY_FAULT: 'everything' });
    t.is(run.code, 2);
    t.regex(run.stderr, /unknown fault "everything"/);
  });
}

test('the report: one line per check with its status and reason, totals; JSON as is', (t) => {
  const checks: ConnectivityReport['checks'] = [
    { name: 'pod-to-pod', status: 'PASS', detail: 'client → echo', durationMs: 12.4 },
    { name: 'l7-policy-deny', status: 'FAIL', reason: 'expected 403, got 200', durationMs: 3 },
    { name: 'mutual-auth', status: 'SKIP', reason: 'no second node', durationMs: 0 },
  ];
  const r: ConnectivityReport = { mode: 'standalone', runId: 'abc123', checks, summary: summarize(checks) };
  t.deepEqual(r.summary, { passed: 1, failed: 1, skipped: 1 });
  const text = formatText(r);
  t.regex(text, /^weft connectivity test \(standalone, run abc123\)$/m);
  t.regex(text, /^ {2}PASS {2}pod-to-pod +12 ms {2}client → echo$/m);
  t.regex(text, /^ {2}FAIL {2}l7-policy-deny +3 ms {2}expected 403, got 200$/m);
  t.regex(text, /^ {2}SKIP {2}mutual-auth +0 ms {2}no second node$/m);
  t.regex(text, /^1 passed, 1 failed, 1 skipped$/m);
  t.deepEqual(JSON.parse(formatJson(r)), r);
});

test('faults: known names, comma-separated; an unknown one is an error naming it', (t) => {
  t.deepEqual(parseFaults(undefined), []);
  t.deepEqual(parseFaults('l7-allow-all, mtls-untrusted'), ['l7-allow-all', 'mtls-untrusted']);
  t.throws(() => parseFaults('l7-allow-all,bogus'), { message: /unknown fault "bogus"/ });
});
