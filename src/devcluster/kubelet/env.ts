// A container's environment: `env[].value`, downward-API `valueFrom.fieldRef`, and `$(VAR)` references to
// variables defined earlier, as the kubelet expands them.
import type { V1Container, V1Pod } from '@kubernetes/client-node';

export interface PodFacts { podIP: string; hostIP: string }

export function fieldValue(pod: V1Pod, path: string, facts: PodFacts): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2]] ?? '';
  switch (path) {
    case 'metadata.name': return pod.metadata?.name;
    case 'metadata.namespace': return pod.metadata?.namespace;
    case 'metadata.uid': return pod.metadata?.uid;
    case 'spec.nodeName': return pod.spec?.nodeName;
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName;
    case 'status.podIP': case 'status.podIPs': return facts.podIP;
    case 'status.hostIP': case 'status.hostIPs': return facts.hostIP;
    default: return undefined;
  }
}

const expand = (value: string, env: Record<string, string>) =>
  value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name?: string) => (name === undefined ? '$' : env[name] ?? whole));

/** The variables the container sees (besides PATH, which the caller adds); unsupported sources are errors. */
export function containerEnv(pod: V1Pod, c: V1Container, facts: PodFacts): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.valueFrom?.fieldRef) {
      const v = fieldValue(pod, e.valueFrom.fieldRef.fieldPath, facts);
      if (v === undefined) throw new Error(`container ${c.name}: env ${e.name}: fieldRef ${e.valueFrom.fieldRef.fieldPath} is not supported`);
      env[e.name] = v;
    } else if (e.valueFrom) {
      throw new Error(`container ${c.name}: env ${e.name}: only value and valueFrom.fieldRef are supported`);
    } else {
      env[e.name] = expand(e.value ?? '', env);
    }
  }
  return env;
}

export function expandArgs(argv: string[], env: Record<string, string>): string[] {
  return argv.map((a) => expand(a, env));
}
