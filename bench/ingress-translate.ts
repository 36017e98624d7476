// Ingress translation against Gateway API translation of the same routing: N Ingresses, each one host
// (from a pool of 50 shared hosts) and five paths (Prefix, Exact, Prefix, Prefix, ImplementationSpecific
// regex) to two Services of its namespace, versus N HTTPRoutes on one Gateway listener with the same
// hostnames, matches and backends. Both run through translateManifests (classification, the translator,
// IR → xDS), without the reload cache, in one process: the ratio Ingress / HTTPRoute is the figure.
//
//   node dist/bench/ingress-translate.js [--size=quick|full]
import { translateManifests, type Translation } from '../src/standalone/pipeline.js';
import type { Manifest } from '../src/sources/manifests.js';
import { asManifests, GATEWAY, gatewayDocs, namespaceOf, serviceDocs, syntheticAddresses, treeState, type Doc } from './gateway-manifests.js';
import { machine, ms, parseArgs, stats, type Stats } from './lib.js';

const args = parseArgs();
const full = args.get('size') === 'full';
const COUNTS = full ? [10, 100, 1000] : [10, 100, 500];
const BUDGET_MS = full ? 30_000 : 8_000;

interface PathSpec {
  type: 'Prefix' | 'Exact' | 'ImplementationSpecific';
  path: string;
  backend: string;
}

function pathsOf(j: number, services: number): PathSpec[] {
  const ns = j % 5;
  const inNs = Math.max(1, Math.floor(services / 5));
  const a = `svc-${ns + 5 * (Math.floor(j / 5) % inNs)}`;
  const b = `svc-${ns + 5 * ((Math.floor(j / 5) + 1) % inNs)}`;
  const p = `/r${j}`;
  return [
    { type: 'Prefix', path: `${p}/api`, backend: a },
    { type: 'Exact', path: `${p}/healthz`, backend: a },
    { type: 'Prefix', path: `${p}/v1`, backend: b },
    { type: 'Prefix', path: `${p}/legacy`, backend: b },
    { type: 'ImplementationSpecific', path: `${p}/items/[0-9]+`, backend: a },
  ];
}

const created = (j: number): string => new Date(Date.UTC(2026, 0, 1) + j * 1000).toISOString();

function ingressDoc(j: number, services: number): Doc {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: `ing-${j}`, namespace: namespaceOf(j), creationTimestamp: created(j) },
    spec: {
      ingressClassName: 'weft',
      rules: [{ host: `app-${j % 50}.example.com`, http: { paths: pathsOf(j, services).map((p) => ({ path: p.path, pathType: p.type, backend: { service: { name: p.backend, port: { number: 80 } } } })) } }],
    },
  };
}

const GATEWAY_PATH_TYPE = { Prefix: 'PathPrefix', Exact: 'Exact', ImplementationSpecific: 'RegularExpression' } as const;

function httpRouteDoc(j: number, services: number): Doc {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: `route-${j}`, namespace: namespaceOf(j), creationTimestamp: created(j) },
    spec: {
      parentRefs: [{ name: GATEWAY.name, namespace: GATEWAY.namespace }],
      hostnames: [`app-${j % 50}.example.com`],
      rules: pathsOf(j, services).map((p) => ({ matches: [{ path: { type: GATEWAY_PATH_TYPE[p.type], value: p.path } }], backendRefs: [{ name: p.backend, port: 80 }] })),
    },
  };
}

function inputs(kind: 'ingress' | 'gateway', n: number): Manifest[] {
  const services = Math.max(5, Math.ceil(n / 2));
  const docs: Doc[] = kind === 'gateway' ? gatewayDocs(80) : [];
  for (let i = 0; i < services; i++) docs.push(...serviceDocs(i, syntheticAddresses(i)));
  for (let j = 0; j < n; j++) docs.push(kind === 'ingress' ? ingressDoc(j, services) : httpRouteDoc(j, services));
  return asManifests(docs);
}

function envoyRoutes(t: Translation): number {
  return t.ir.httpListeners.reduce((n, l) => n + l.virtualHosts.reduce((m, v) => m + v.routes.length, 0), 0);
}

function time(manifests: Manifest[]): Stats {
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < 5; i++) translateManifests(manifests); // warm-up
  while (samples.length < 20 || (performance.now() - started < BUDGET_MS && samples.length < 500)) {
    const t0 = performance.now();
    translateManifests(manifests);
    samples.push(performance.now() - t0);
  }
  return stats(samples);
}

interface Row {
  count: number;
  ingress: Stats;
  gateway: Stats;
  ingressEnvoyRoutes: number;
  gatewayEnvoyRoutes: number;
}

console.log(`# Ingress vs HTTPRoute translation — ${machine()} — ${treeState()}`);
const rows: Row[] = [];
for (const count of COUNTS) {
  const ing = inputs('ingress', count);
  const gw = inputs('gateway', count);
  const first = translateManifests(ing);
  const firstGw = translateManifests(gw);
  if (first.problems.length || firstGw.problems.length) throw new Error(`unexpected problems: ${JSON.stringify([...first.problems, ...firstGw.problems].slice(0, 3))}`);
  const row: Row = { count, ingress: time(ing), gateway: time(gw), ingressEnvoyRoutes: envoyRoutes(first), gatewayEnvoyRoutes: envoyRoutes(firstGw) };
  rows.push(row);
  console.log(
    `${count} Ingresses (${row.ingressEnvoyRoutes} IR routes): p50 ${ms(row.ingress.p50)} p99 ${ms(row.ingress.p99)} ms; ` +
      `${count} HTTPRoutes (${row.gatewayEnvoyRoutes} IR routes): p50 ${ms(row.gateway.p50)} p99 ${ms(row.gateway.p99)} ms; ` +
      `Ingress/HTTPRoute ×${(row.ingress.p50 / row.gateway.p50).toFixed(2)} p50, ×${(row.ingress.p99 / row.gateway.p99).toFixed(2)} p99 (n=${row.ingress.n}/${row.gateway.n})`,
  );
}
console.log(`RESULT ingress-translate ${JSON.stringify(rows)}`);
