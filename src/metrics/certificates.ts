// Certificate expiry: seconds until each certificate a process serves or trusts expires, read at scrape
// time from whatever sources the process's parts add (the last translation's listener certificates, the
// flow API's SVID and bundle).
import { X509Certificate } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { ProxyIR } from '../ir/model.js';
import type { MtlsMaterial } from '../observe/mtls.js';
import { METRICS } from './catalogue.js';
import { gauge } from './registry.js';

export interface CertificateExpiry {
  /** gateway, svid, bundle. */
  kind: string;
  name: string;
  notAfter: Date;
}

export type CertificateSource = () => readonly CertificateExpiry[];

export class CertificateMetrics {
  private readonly sources = new Set<CertificateSource>();
  private static readonly byRegistry = new WeakMap<Registry, CertificateMetrics>();

  static of(registry: Registry): CertificateMetrics {
    let m = CertificateMetrics.byRegistry.get(registry);
    if (!m) CertificateMetrics.byRegistry.set(registry, (m = new CertificateMetrics(registry)));
    return m;
  }

  private constructor(registry: Registry) {
    const sources = this.sources;
    gauge(registry, METRICS.certificateExpiry, function () {
      this.reset();
      const now = Date.now();
      for (const source of sources) {
        for (const c of source()) this.set({ kind: c.kind, name: c.name }, Math.round((c.notAfter.getTime() - now) / 1000));
      }
    });
  }

  /** Adds a source; returns the function that removes it. */
  add(source: CertificateSource): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }
}

/** The first certificate (the leaf) of a PEM chain; undefined when there is none or it does not parse. */
export function leafNotAfter(pem: string): Date | undefined {
  const block = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!block) return undefined;
  try {
    return new Date(new X509Certificate(block).validTo);
  } catch {
    return undefined;
  }
}

/** Every certificate of a PEM bundle, named by subject. */
export function bundleExpiries(kind: string, pem: string): CertificateExpiry[] {
  const out: CertificateExpiry[] = [];
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []) {
    try {
      const c = new X509Certificate(block);
      out.push({ kind, name: c.subject.replace(/\n/g, ', ') || c.fingerprint256, notAfter: new Date(c.validTo) });
    } catch {
      // not a certificate: nothing to report
    }
  }
  return out;
}

/** The listener certificates a translation serves (SDS Secret names such as `secret/<ns>/<name>`). */
export function irCertificates(ir: ProxyIR): CertificateExpiry[] {
  const out = new Map<string, CertificateExpiry>();
  for (const l of ir.httpListeners) {
    for (const chain of l.tls?.chains ?? []) {
      for (const c of chain.terminate?.certificates ?? []) {
        const notAfter = leafNotAfter(c.certificateChain);
        if (notAfter) out.set(c.name, { kind: 'gateway', name: c.name, notAfter });
      }
    }
  }
  return [...out.values()];
}

/** The flow API's mutual TLS material: its SVID (named by SPIFFE ID) and the bundle's roots. */
export function mtlsCertificates(m: MtlsMaterial): CertificateExpiry[] {
  const out: CertificateExpiry[] = [];
  const leaf = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(m.chainPem)?.[0];
  if (leaf) {
    try {
      const c = new X509Certificate(leaf);
      const id = c.subjectAltName?.split(', ').find((s) => s.startsWith('URI:'))?.slice(4) ?? c.subject;
      out.push({ kind: 'svid', name: id, notAfter: new Date(c.validTo) });
    } catch {
      // checked when the material was loaded
    }
  }
  return [...out, ...bundleExpiries('bundle', m.bundlePem)];
}
