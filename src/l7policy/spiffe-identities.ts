// Identities as the mesh sees them: a verified certificate names a SPIFFE ID
// (`spiffe://<trust domain>/ns/<namespace>/sa/<service account>`), which stands for every identity (label set)
// of that service account's pods. Pure.
import { workloadId } from '../mtls/spiffe-id.js';
import type { IdentityTable } from './identities.js';
import type { PolicyModel } from './model.js';

/** The table's workloads by SPIFFE ID, each with its identities (sorted). */
export function spiffeIdentities(table: IdentityTable, trustDomain: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const e of table.endpoints) {
    let id: string;
    try {
      id = workloadId(trustDomain, e.namespace, e.serviceAccount).uri;
    } catch {
      continue; // a namespace or service account name no SPIFFE ID can carry: no certificate names this pod
    }
    const identities = out.get(id) ?? out.set(id, []).get(id)!;
    if (!identities.includes(e.identity)) identities.push(e.identity);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, identities]) => [id, identities.sort((a, b) => a - b)]));
}

/**
 * Rules requiring authentication whose peers select some, not all, identities of a service account: over
 * mutual TLS those pods are one SPIFFE ID, so the rule admits all of them. One warning per rule and ID.
 */
export function serviceAccountSplits(model: PolicyModel, trustDomain: string): Array<{ policy: string; message: string }> {
  const ids = spiffeIdentities(model.table, trustDomain);
  const out: Array<{ policy: string; message: string }> = [];
  for (const policy of model.policies) {
    policy.rules.forEach((rule) => {
      if (rule.deny || rule.authentication === undefined || rule.authentication === 'disabled' || rule.peers === null) return;
      const selected = model.resolvePeers(rule.peers);
      if (selected.any) return;
      for (const [id, identities] of ids) {
        const some = identities.filter((i) => selected.identities.has(i));
        if (some.length > 0 && some.length < identities.length) {
          out.push({ policy: policy.id, message: `an ${rule.direction} rule requiring authentication selects some pods of ${id} (identities ${some.join(', ')} of ${identities.join(', ')}); over mutual TLS they are one SPIFFE ID, so it admits all of them` });
        }
      }
    });
  }
  return out;
}
