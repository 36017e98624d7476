// The CNI plugin driven per the CNI 1.1 specification (CNI_* environment, JSON configuration on stdin,
// results and error objects on stdout), then by an independent client, cnitool from the
// containernetworking Go module. Pods are network namespaces; the host-side veths go into a test "node"
// namespace. Everything the tests create is removed at the end.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { datapathUnavailable } from '../src/datapath/native.js';
import { Datapath } from '../src/datapath/datapath.js';
import { EndpointMap } from '../src/datapath/endpoints.js';
import { hostIfname, type CniResult } from '../src/datapath/cni/plugin.js';
import { ip, Topology } from './helpers/datapath-topology.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const plugin = path.join(root, 'bin', 'weft-cni');
const CNITOOL_VERSION = 'v1.3.0';
const unavailable = datapathUnavailable();

let topo: Topology | undefined;
let tmp = '';
let conf: Record<string, unknown>;
const podNs: string[] = [];

interface Run { code: number | null; out: Record<string, unknown> | undefined; raw: string }

function cni(command: string, env: Record<string, string>, config: unknown = conf): Run {
  const r = spawnSync(plugin, [], {
    input: typeof config === 'string' ? config : JSON.stringify(config),
    env: { PATH: process.env.PATH, CNI_COMMAND: command, CNI_PATH: path.dirname(plugin), WEFT_CNI_LOCK: path.join(tmp, 'lock'), ...env },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined, raw: r.stdout + r.stderr };
}

function newPodNs(name: string): string {
  const ns = `wc${topo!.id}${name}`;
  ip('netns', 'add', ns);
  podNs.push(ns);
  return ns;
}

const envFor = (ns: string, id: string, ifname = 'eth0') => ({ CNI_CONTAINERID: id, CNI_NETNS: `/var/run/netns/${ns}`, CNI_IFNAME: ifname });

function allocations(): Record<string, unknown> {
  const file = path.join(tmp, 'data', 'weftnet', 'ipv4.json');
  return existsSync(file) ? (JSON.parse(execFileSync('cat', [file], { encoding: 'utf8' })) as { allocations: Record<string, unknown> }).allocations : {};
}

test.before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'weft-cni-'));
  if (unavailable) return;
  topo = new Topology();
  conf = {
    cniVersion: '1.1.0', name: 'weftnet', type: 'weft-cni', podCIDR: '10.99.1.0/24',
    dataDir: path.join(tmp, 'data'), nodeNetns: topo.nodeNsPath, bpfPinRoot: `/sys/fs/bpf/weft-test-${topo.id}`,
  };
});

test.after.always(() => {
  for (const ns of podNs) {
    try { ip('netns', 'del', ns); } catch { /* deleted by a test */ }
  }
  if (topo) {
    topo.destroy();
    if (existsSync(`/sys/fs/bpf/weft-test-${topo.id}`)) Datapath.open({ pinRoot: `/sys/fs/bpf/weft-test-${topo.id}` }).destroy();
  }
  rmSync(tmp, { recursive: true, force: true });
});

test('VERSION and error results follow the spec\'s shape and codes', (t) => {
  const v = spawnSync(plugin, [], { input: '{"cniVersion":"1.0.0"}', env: { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' }, encoding: 'utf8' });
  t.is(v.status, 0);
  t.deepEqual(JSON.parse(v.stdout), { cniVersion: '1.0.0', supportedVersions: ['1.0.0', '1.1.0'] });
  const cfg = { cniVersion: '1.1.0', name: 'weftnet', type: 'weft-cni', podCIDR: '10.99.1.0/24', dataDir: path.join(tmp, 'unused') };
  const old = cni('ADD', envFor('x', 'c1'), { ...cfg, cniVersion: '0.4.0' });
  t.not(old.code, 0);
  t.like(old.out, { cniVersion: '1.1.0', code: 1 });
  t.is(typeof old.out?.msg, 'string');
  t.like(cni('ADD', { CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0' }, cfg).out, { code: 4, msg: 'CNI_CONTAINERID is missing or invalid' });
  t.like(cni('ADD', envFor('x', 'c1'), '{not json').out, { code: 6 });
  t.like(cni('ADD', envFor('x', 'c1'), { cniVersion: '1.1.0', name: 'weftnet', type: 'weft-cni' }).out, { code: 7, msg: 'network configuration: podCIDR is missing' });
  t.like(cni('FROB', envFor('x', 'c1'), cfg).out, { code: 4 });
});

if (unavailable) {
  test('CNI plugin against the datapath', (t) => {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  });
} else {
  test.serial('ADD wires two pods that reach each other; the endpoint is registered and the programs attached', async (t) => {
    const [a, b] = [newPodNs('a'), newPodNs('b')];
    const ra = cni('ADD', envFor(a, 'ctr-a'));
    t.is(ra.code, 0, ra.raw);
    const result = ra.out as unknown as CniResult;
    t.is(result.cniVersion, '1.1.0');
    t.deepEqual(result.ips, [{ address: '10.99.1.2/32', gateway: '10.99.1.1', interface: 1 }]);
    t.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: '10.99.1.1' }]);
    t.is(result.interfaces[0].name, hostIfname('ctr-a', 'eth0'));
    t.like(result.interfaces[1], { name: 'eth0', sandbox: `/var/run/netns/${a}` });
    t.regex(result.interfaces[1].mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const rb = cni('ADD', { ...envFor(b, 'ctr-b'), CNI_ARGS: 'IgnoreUnknown=1;WEFT_IDENTITY=4242' });
    t.deepEqual((rb.out as unknown as CniResult).ips[0].address, '10.99.1.3/32');

    const dp = Datapath.open({ pinRoot: conf.bpfPinRoot as string });
    try {
      t.like(new EndpointMap(dp.maps.endpoints).lookup('10.99.1.3'), { identity: 4242 });
      t.like(new EndpointMap(dp.maps.endpoints).lookup('10.99.1.2'), { identity: 5 });
      const ids = dp.attached(topo!.nodeNsPath, hostIfname('ctr-b', 'eth0'));
      t.true(ids.ingress > 0 && ids.egress > 0);
    } finally {
      dp.close();
    }
    await topo!.serve(b, 'b', 'tcp', [8080]);
    t.like(await topo!.connect(a, 'tcp', '10.99.1.3', 8080), { ok: true, reply: 'b 10.99.1.2' });
  });

  test.serial('a repeated ADD keeps the address; CHECK passes, and fails once the pod\'s address is gone', (t) => {
    const a = podNs[0];
    const again = cni('ADD', envFor(a, 'ctr-a'));
    t.is(again.code, 0, again.raw);
    const prevResult = again.out as unknown as CniResult;
    t.is(prevResult.ips[0].address, '10.99.1.2/32');
    t.deepEqual(Object.keys(allocations()).sort(), ['10.99.1.2', '10.99.1.3']);
    const ok = cni('CHECK', envFor(a, 'ctr-a'), { ...conf, prevResult });
    t.is(ok.code, 0, ok.raw);
    t.is(ok.out, undefined);
    ip('-n', a, 'addr', 'del', '10.99.1.2/32', 'dev', 'eth0');
    const bad = cni('CHECK', envFor(a, 'ctr-a'), { ...conf, prevResult });
    t.like(bad.out, { code: 101, msg: 'interface eth0 does not have 10.99.1.2/32' });
    t.like(cni('CHECK', envFor(a, 'ctr-a'), conf).out, { code: 7 }, 'CHECK without prevResult');
  });

  test.serial('DEL releases the address and the interface, repeats harmlessly, and works on a deleted namespace', (t) => {
    const [a, b] = podNs;
    const d1 = cni('DEL', envFor(a, 'ctr-a'));
    t.is(d1.code, 0, d1.raw);
    t.is(d1.out, undefined);
    t.false(ip('-n', topo!.node, 'link').includes(hostIfname('ctr-a', 'eth0')));
    t.is(cni('DEL', envFor(a, 'ctr-a')).code, 0, 'a second DEL succeeds');
    ip('netns', 'del', b);
    const d2 = cni('DEL', envFor(b, 'ctr-b'));
    t.is(d2.code, 0, d2.raw);
    t.deepEqual(allocations(), {}, 'no address leaked');
    t.false(ip('-n', topo!.node, 'link').includes(hostIfname('ctr-b', 'eth0')));
    const dp = Datapath.open({ pinRoot: conf.bpfPinRoot as string });
    try {
      t.is(new EndpointMap(dp.maps.endpoints).lookup('10.99.1.3'), undefined, 'endpoint unregistered');
    } finally {
      dp.close();
    }
    t.like(cni('ADD', envFor('does-not-exist', 'ctr-z')).out, { code: 3 });
    t.deepEqual(allocations(), {}, 'a failed ADD holds no address');
  });

  test.serial('STATUS reports readiness; GC releases attachments the runtime no longer has', (t) => {
    const st = cni('STATUS', {});
    t.is(st.code, 0, st.raw);
    t.is(st.out, undefined);
    const [c, d] = [newPodNs('c'), newPodNs('d')];
    t.is(cni('ADD', envFor(c, 'ctr-c')).code, 0);
    t.is(cni('ADD', envFor(d, 'ctr-d')).code, 0);
    const gc = cni('GC', {}, { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'ctr-c', ifname: 'eth0' }] });
    t.is(gc.code, 0, gc.raw);
    t.deepEqual(Object.values(allocations()), [{ containerId: 'ctr-c', ifname: 'eth0' }]);
    t.false(ip('-n', topo!.node, 'link').includes(hostIfname('ctr-d', 'eth0')));
    t.is(cni('DEL', envFor(c, 'ctr-c')).code, 0);
    t.deepEqual(allocations(), {});
  });

  test.serial('dual stack: ADD gives an IPv6 address too, pods reach each other over IPv6, CHECK and DEL cover it', async (t) => {
    const dual = { ...conf, name: 'weftdual', podCIDR: '10.99.2.0/24', podCIDRv6: 'fd00:99:2::/64' };
    const [a, b] = [newPodNs('d6a'), newPodNs('d6b')];
    const ra = cni('ADD', envFor(a, 'ctr-6a'), dual);
    t.is(ra.code, 0, ra.raw);
    const result = ra.out as unknown as CniResult;
    t.deepEqual(result.ips, [{ address: '10.99.2.2/32', gateway: '10.99.2.1', interface: 1 }, { address: 'fd00:99:2::2/128', gateway: 'fe80::1', interface: 1 }]);
    t.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: '10.99.2.1' }, { dst: '::/0', gw: 'fe80::1' }]);
    t.is(cni('ADD', envFor(b, 'ctr-6b'), dual).code, 0);
    const dp = Datapath.open({ pinRoot: conf.bpfPinRoot as string });
    try {
      t.like(new EndpointMap(dp.maps.endpoints).lookup('fd00:99:2::3'), { identity: 5 }, 'the IPv6 address is registered');
    } finally {
      dp.close();
    }
    await topo!.serve(b, 'b6', 'tcp', [8080]);
    t.like(await topo!.connect(a, 'tcp', 'fd00:99:2::3', 8080, 3000), { ok: true, reply: 'b6 fd00:99:2::2' });
    t.is(cni('CHECK', envFor(a, 'ctr-6a'), { ...dual, prevResult: result }).code, 0);
    const v4only = { ...result, ips: [result.ips[0]] };
    t.like(cni('CHECK', envFor(a, 'ctr-6a'), { ...dual, prevResult: v4only }).out, { code: 101 }, 'CHECK notices a prevResult without the IPv6 address');
    t.like(cni('ADD', envFor(a, 'ctr-6z'), { ...dual, podCIDRv6: '10.0.0.0/8' }).out, { code: 7, msg: 'network configuration: podCIDRv6 must be an IPv6 CIDR' });
    for (const [ns, id] of [[a, 'ctr-6a'], [b, 'ctr-6b']]) t.is(cni('DEL', envFor(ns, id), dual).code, 0);
    const v6state = JSON.parse(execFileSync('cat', [path.join(tmp, 'data', 'weftdual', 'ipv6.json')], { encoding: 'utf8' })) as { allocations: Record<string, unknown> };
    t.deepEqual(v6state.allocations, {}, 'no IPv6 address leaked');
  });

  test.serial('cnitool (containernetworking) drives ADD, CHECK and DEL', (t) => {
    const gobin = path.join(os.homedir(), '.cache', 'weft', `cnitool-${CNITOOL_VERSION}`);
    const cnitool = path.join(gobin, 'cnitool');
    if (!existsSync(cnitool)) {
      const go = spawnSync('go', ['install', `github.com/containernetworking/cni/cnitool@${CNITOOL_VERSION}`], { env: { ...process.env, GOBIN: gobin }, encoding: 'utf8' });
      if (go.error || go.status !== 0) {
        t.log(`skipped: cannot build cnitool: ${go.error?.message ?? go.stderr}`);
        t.pass();
        return;
      }
    }
    const netconf = path.join(tmp, 'netconf');
    execFileSync('mkdir', ['-p', netconf]);
    writeFileSync(path.join(netconf, 'weftnet.conflist'), JSON.stringify({ cniVersion: '1.1.0', name: 'weftnet', plugins: [{ ...conf, name: undefined, cniVersion: undefined }] }));
    const e = newPodNs('e');
    const env = { ...process.env, NETCONFPATH: netconf, CNI_PATH: path.dirname(plugin), WEFT_CNI_LOCK: path.join(tmp, 'lock') };
    const run = (cmd: string) => spawnSync(cnitool, [cmd, 'weftnet', `/var/run/netns/${e}`], { env, encoding: 'utf8' });
    const add = run('add');
    t.is(add.status, 0, add.stderr);
    const result = JSON.parse(add.stdout) as CniResult;
    t.is(result.ips[0].address, '10.99.1.2/32');
    t.true(ip('-n', e, 'addr', 'show', 'eth0').includes('10.99.1.2/32'));
    const check = run('check');
    t.is(check.status, 0, check.stderr);
    const del = run('del');
    t.is(del.status, 0, del.stderr);
    t.deepEqual(allocations(), {});
    t.deepEqual(readdirSync(path.join(tmp, 'data', 'weftnet')).filter((f) => f.endsWith('.tmp')), [], 'no temporary state files left');
  });
}
