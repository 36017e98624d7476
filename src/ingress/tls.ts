// Ingress `tls` entries → certificates and SNI chains; the tls-passthrough annotation → passthrough
// chains. On one HTTPS socket (an Ingress address and the HTTPS port):
// - every host of a `tls` entry whose Secret holds a valid kubernetes.io/tls key pair is served over TLS
//   with that certificate, chosen by SNI; an entry without hosts gives the default certificate (clients
//   without SNI, or naming no host); a name claimed twice goes to the older Ingress (then the earlier entry);
// - a passthrough Ingress sends the TLS stream of each rule host, untouched, to the backend of its "/" path.
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { TlsCertificateIR, TlsChainIR, WeightedBackendIR } from '../ir/model.js';
import type { Inputs, Obj } from '../sources/kinds.js';
import { keyPairFromSecret } from '../tls/certificates.js';
import type { Ingress } from './classes.js';

/** ALPN on terminated Ingress TLS: HTTP/2 when the client offers it, else HTTP/1.1. */
export const INGRESS_ALPN = ['h2', 'http/1.1'];

/** One usable `tls` entry of an Ingress. */
export interface IngressTlsEntry {
  /** Empty: the default certificate (the entry names no host). */
  hosts: string[];
  certificate: TlsCertificateIR;
  /** spec.tls[i] */
  field: string;
}

export interface PassthroughRoute {
  host: string;
  backends: WeightedBackendIR[];
  field: string;
}

type ProblemSink = (field: string, message: string) => void;

export class IngressSecrets {
  private readonly secrets = new Map<string, Obj<ISecret>>();

  constructor(inputs: Pick<Inputs, 'secrets'>) {
    for (const s of inputs.secrets ?? []) this.secrets.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
  }

  /** The Ingress's `tls` entries whose Secret is usable; the others are reported (their hosts get no HTTPS). */
  entries(ing: Ingress, problem: ProblemSink): IngressTlsEntry[] {
    const out: IngressTlsEntry[] = [];
    (ing.spec?.tls ?? []).forEach((tls, i) => {
      const field = `spec.tls[${i}]`;
      const hosts = [...new Set(tls.hosts ?? [])];
      const what = hosts.length ? `hosts ${hosts.join(', ')} get` : 'the address gets no default certificate and';
      if (!tls.secretName) {
        problem(`${field}.secretName`, `not set and Weft has no default certificate; ${what} no HTTPS`);
        return;
      }
      const key = `${ing.metadata.namespace}/${tls.secretName}`;
      const secret = this.secrets.get(key);
      if (!secret) {
        problem(`${field}.secretName`, `Secret ${key} not found; ${what} no HTTPS`);
        return;
      }
      const pair = keyPairFromSecret(secret);
      if ('error' in pair) {
        problem(`${field}.secretName`, `Secret ${key} ${pair.error}; ${what} no HTTPS`);
        return;
      }
      out.push({ hosts, field, certificate: { name: `secret/${key}`, certificateChain: pair.ok.certificateChain, privateKey: pair.ok.privateKey } });
    });
    return out;
  }
}

/**
 * Whether TLS host `tlsHost` ('' for the default certificate) covers the rule host `host` ('*' for
 * rules without host): the same name, or a wildcard one label above it, or the default certificate.
 */
export function tlsHostCovers(tlsHost: string, host: string): boolean {
  if (tlsHost === '' || tlsHost === host) return true;
  if (!tlsHost.startsWith('*.') || host.startsWith('*')) return false;
  const suffix = tlsHost.slice(1);
  return host.endsWith(suffix) && host.length > suffix.length && !host.slice(0, -suffix.length).includes('.');
}

/** A claim on an SNI name of one socket, in precedence order (oldest Ingress first). */
export interface SniClaim {
  /** '' for the default chain. */
  serverName: string;
  owner: string;
  field: string;
  terminate?: TlsCertificateIR;
  passthrough?: WeightedBackendIR[];
}

/**
 * The chains of one HTTPS socket from its claims, first claim of a name winning; `onLost` hears of the
 * others. Terminating names that share a certificate share a chain.
 */
export function buildChains(claims: SniClaim[], onLost: (lost: SniClaim, winner: SniClaim) => void): { chains: TlsChainIR[]; winners: SniClaim[] } {
  const byName = new Map<string, SniClaim>();
  for (const c of claims) {
    const winner = byName.get(c.serverName);
    if (!winner) byName.set(c.serverName, c);
    else if (winner.owner !== c.owner || winner.terminate?.name !== c.terminate?.name || c.passthrough) onLost(c, winner);
  }
  const winners = [...byName.values()];
  const chains = new Map<string, TlsChainIR>();
  for (const w of winners) {
    if (w.passthrough) {
      chains.set(`passthrough/${w.serverName}`, { name: `passthrough/${w.serverName}`, serverNames: [w.serverName], tcpBackends: w.passthrough });
      continue;
    }
    const cert = w.terminate!;
    const name = w.serverName === '' ? `${cert.name}/default` : cert.name;
    const chain = chains.get(name) ?? { name, serverNames: [], terminate: { certificates: [cert], alpn: INGRESS_ALPN } };
    chains.set(name, chain);
    if (w.serverName !== '') chain.serverNames.push(w.serverName);
  }
  for (const c of chains.values()) c.serverNames.sort();
  return { chains: [...chains.values()].sort((a, b) => a.name.localeCompare(b.name)), winners };
}
