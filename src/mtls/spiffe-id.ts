// SPIFFE IDs (SPIFFE-ID spec §2): spiffe://<trust-domain><path>. The character rules are the spec's
// current ones (the same go-spiffe's spiffeid package enforces): the trust domain is lowercase letters,
// digits, '.', '-', '_' (no userinfo, no port, no percent-encoding); the path is '/'-separated
// segments of letters, digits, '.', '-', '_', none empty, '.' or '..'; no query, no fragment.

export const MAX_SPIFFE_ID_BYTES = 2048;
export const MAX_TRUST_DOMAIN_BYTES = 255;

const TRUST_DOMAIN_CHAR = /^[a-z0-9._-]$/;
const SEGMENT_CHAR = /^[a-zA-Z0-9._-]$/;

export class SpiffeIdError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`invalid SPIFFE ID ${JSON.stringify(input.length > 120 ? `${input.slice(0, 120)}…` : input)}: ${reason}`);
    this.name = 'SpiffeIdError';
  }
}

export interface SpiffeId {
  trustDomain: string;
  /** '' for the trust domain's own ID, else '/seg/seg…'. */
  path: string;
  /** The canonical string, `spiffe://<trustDomain><path>`. */
  uri: string;
}

/** Why `td` is not a valid trust domain name, or undefined when it is. */
export function trustDomainProblem(td: string): string | undefined {
  if (td === '') return 'the trust domain is empty';
  if (Buffer.byteLength(td) > MAX_TRUST_DOMAIN_BYTES) return `the trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`;
  for (const c of td) {
    if (c === ':') return 'the trust domain has a port (":")';
    if (c === '@') return 'the trust domain has userinfo ("@")';
    if (!TRUST_DOMAIN_CHAR.test(c)) return `the trust domain has the character ${JSON.stringify(c)} (only a-z, 0-9, '.', '-', '_')`;
  }
  return undefined;
}

/** Why `p` is not a valid SPIFFE ID path ('' or '/seg…'), or undefined when it is. */
export function pathProblem(p: string): string | undefined {
  if (p === '') return undefined;
  if (!p.startsWith('/')) return 'the path does not start with "/"';
  for (const segment of p.slice(1).split('/')) {
    if (segment === '') return p.endsWith('/') ? 'the path ends with "/"' : 'the path has an empty segment ("//")';
    if (segment === '.' || segment === '..') return `the path has a "${segment}" segment`;
    for (const c of segment) {
      if (c === '?') return 'a SPIFFE ID has no query';
      if (c === '#') return 'a SPIFFE ID has no fragment';
      if (c === '%') return 'the path has percent-encoding (not allowed)';
      if (!SEGMENT_CHAR.test(c)) return `the path has the character ${JSON.stringify(c)} (only a-z, A-Z, 0-9, '.', '-', '_')`;
    }
  }
  return undefined;
}

/** Parses and validates a SPIFFE ID; throws SpiffeIdError naming what is wrong. */
export function parseSpiffeId(input: string): SpiffeId {
  if (Buffer.byteLength(input) > MAX_SPIFFE_ID_BYTES) throw new SpiffeIdError(input, `longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
  const scheme = 'spiffe://';
  if (!input.startsWith(scheme)) {
    throw new SpiffeIdError(input, /^spiffe:\/\//i.test(input) ? 'the scheme must be lowercase "spiffe"' : 'the scheme must be "spiffe://"');
  }
  const rest = input.slice(scheme.length);
  const q = rest.search(/[?#]/);
  if (q >= 0) throw new SpiffeIdError(input, rest[q] === '?' ? 'a SPIFFE ID has no query' : 'a SPIFFE ID has no fragment');
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const problem = trustDomainProblem(trustDomain) ?? pathProblem(path);
  if (problem) throw new SpiffeIdError(input, problem);
  return { trustDomain, path, uri: input };
}

/** The ID of a trust domain itself (no path): what signing certificates carry. */
export function trustDomainId(trustDomain: string): SpiffeId {
  const problem = trustDomainProblem(trustDomain);
  if (problem) throw new SpiffeIdError(`spiffe://${trustDomain}`, problem);
  return { trustDomain, path: '', uri: `spiffe://${trustDomain}` };
}

/** The Kubernetes-style workload ID `spiffe://<td>/ns/<namespace>/sa/<serviceAccount>`. */
export function workloadId(trustDomain: string, namespace: string, serviceAccount: string): SpiffeId {
  return parseSpiffeId(`spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`);
}

/** The namespace and service account of a `/ns/<ns>/sa/<sa>` ID, or undefined for other paths. */
export function namespaceAndServiceAccount(id: SpiffeId): { namespace: string; serviceAccount: string } | undefined {
  const m = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id.path);
  return m ? { namespace: m[1], serviceAccount: m[2] } : undefined;
}
