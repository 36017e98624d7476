// `weft status --kubernetes`: Weft's pods (label app.kubernetes.io/name=weft) through the API server: each
// pod's phase and Ready condition, its health endpoint's /readyz and, from its /metrics (pods/proxy),
// NACKs, leadership and certificate expiry. No pod found is a failure: Weft is not installed there.
import * as k8s from '@kubernetes/client-node';
import { errorText, podProxyGet, WEFT_POD_SELECTOR, weftPods } from '../sysdump/kubernetes.js';
import { certificateCheck, type Check } from './report.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (enough for Weft's own metrics: no escaped quotes in labels). */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

export async function kubernetesChecks(kc: k8s.KubeConfig): Promise<Check[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let pods;
  try {
    pods = weftPods(await core.listPodForAllNamespaces({ labelSelector: WEFT_POD_SELECTOR }));
  } catch (err) {
    return [{ subject: 'api server', state: 'fail', detail: `${kc.getCurrentCluster()?.server ?? 'in-cluster'}: ${errorText(err)}` }];
  }
  if (pods.length === 0) return [{ subject: 'weft', state: 'fail', detail: `no pods labelled ${WEFT_POD_SELECTOR}: Weft is not installed (helm install weft charts/weft)` }];
  const checks: Check[] = [];
  for (const pod of pods) {
    const subject = `pod ${pod.namespace}/${pod.name}`;
    if (!pod.healthPort) {
      checks.push({ subject, state: pod.ready ? 'ok' : 'fail', detail: `${pod.phase}, ${pod.ready ? 'Ready' : 'not Ready'} (no health port to ask)` });
      continue;
    }
    let readyz: string;
    try {
      readyz = (await podProxyGet(core, pod, '/readyz')).trim();
    } catch (err) {
      readyz = `not ready (${errorText(err)})`;
    }
    let samples: Sample[] = [];
    try {
      samples = parseSamples(await podProxyGet(core, pod, '/metrics'));
    } catch {
      // readyz says enough
    }
    const sum = (name: string): number => samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
    const nacks = sum('weft_xds_nacks_total');
    const leader = samples.some((s) => s.name === 'weft_operator_leader') ? (sum('weft_operator_leader') === 1 ? ', leader' : ', standby') : '';
    const ok = readyz === 'ready' && pod.ready;
    checks.push({ subject, state: ok ? (nacks > 0 ? 'warn' : 'ok') : 'fail', detail: `${pod.phase}, /readyz ${readyz}${leader}${nacks > 0 ? `, ${nacks} NACK(s) so far` : ''}` });
    // An agent with the datapath: its maps' sizes, and every pod's program on its veth.
    const maps = samples.filter((x) => x.name === 'weft_datapath_map_entries');
    const programs = samples.filter((x) => x.name === 'weft_datapath_endpoint_programs');
    if (maps.length > 0 || programs.length > 0) {
      const missing = programs.find((x) => x.labels.state === 'missing')?.value ?? 0;
      const attached = programs.find((x) => x.labels.state === 'attached')?.value ?? 0;
      checks.push({
        subject: `datapath (${pod.name})`, state: missing > 0 ? 'fail' : 'ok',
        detail: `programs on ${attached} pod(s)${missing > 0 ? `, MISSING on ${missing}` : ''}; map entries ${maps.map((x) => `${x.labels.map} ${x.value}`).join(', ')}`,
      });
    }
    for (const s of samples.filter((x) => x.name === 'weft_certificate_expiry_seconds')) {
      const c = certificateCheck({ kind: s.labels.kind ?? '', name: s.labels.name ?? '', secondsLeft: s.value });
      checks.push({ ...c, subject: `${c.subject} (${pod.name})` });
    }
  }
  return checks;
}
