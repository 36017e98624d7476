// What `weft sysdump` does to everything it writes: no private key, Secret value, bearer token or
// password-like field leaves the machine. Structured data (JSON, YAML) is redacted by field and by kind
// (Secret data/stringData), then every file's text once more for what slipped through (PEM private keys,
// base64-encoded ones, bearer tokens, JWTs). Private keys read as `weft translate` prints them:
// `[redacted private key sha256:…]`, so that a changed key still shows as a changed digest.
import { X509Certificate } from 'node:crypto';
import { parseAllDocuments, stringify } from 'yaml';
import { redactedKey } from '../xds/translator/readable.js';

const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;
/** A private key block cut short (a truncated log line): from its header to the end of the base64. */
const PEM_PRIVATE_KEY_START = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[A-Za-z0-9+/=\s]|\\[nr])*/g;
/** base64 of "-----BEGIN" at the start of an encoded value (a Secret's data outside of a Secret). */
const BASE64_PEM = /LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}/g;
const BEARER = /\b([Bb]earer)\s+[A-Za-z0-9\-._~+/]+=*/g;
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const REDACTED = '[redacted';

/** Field names whose values are secrets: password, token, credentials, client secrets, keys. */
const SENSITIVE_WORDS = new Set(['password', 'passwd', 'passphrase', 'token', 'tokens', 'credential', 'credentials', 'authorization', 'apikey']);
/** `<word>Key` that names no secret. */
const HARMLESS_KEYS = new Set(['node', 'public', 'sort', 'cache', 'hash', 'group', 'lookup', 'partition', 'ssh-public']);

function words(name: string): string[] {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
}

export function isSensitiveField(name: string): boolean {
  const w = words(name);
  if (w.length === 0) return false;
  if (w.some((x) => SENSITIVE_WORDS.has(x))) return true;
  const last = w[w.length - 1];
  if (last === 'secret') return true;
  // tls.key, private_key, client-key-data, api_key; not nodeKey, publicKey.
  const keyAt = last === 'key' ? w.length - 1 : last === 'data' && w[w.length - 2] === 'key' ? w.length - 2 : -1;
  if (keyAt < 0) return false;
  return keyAt === 0 || !HARMLESS_KEYS.has(w[keyAt - 1]);
}

export interface RedactionCounts {
  privateKeys: number;
  secretValues: number;
  sensitiveFields: number;
  tokens: number;
}

export class Redactor {
  readonly counts: RedactionCounts = { privateKeys: 0, secretValues: 0, sensitiveFields: 0, tokens: 0 };

  /** Free text: private keys (PEM or base64 of PEM), bearer tokens, JWTs. */
  text(s: string): string {
    return s
      .replace(PEM_PRIVATE_KEY, (pem) => this.key(pem))
      .replace(PEM_PRIVATE_KEY_START, (pem) => this.key(pem))
      .replace(BASE64_PEM, (b64) => {
        const decoded = Buffer.from(b64, 'base64').toString('utf8');
        return /PRIVATE KEY-----/.test(decoded) ? this.key(decoded) : b64;
      })
      .replace(BEARER, (_, word: string) => {
        this.counts.tokens++;
        return `${word} [redacted token]`;
      })
      .replace(JWT, () => {
        this.counts.tokens++;
        return '[redacted token]';
      });
  }

  private key(pem: string): string {
    this.counts.privateKeys++;
    return redactedKey(pem);
  }

  /** A secret value: keys as `weft translate` prints them, certificates summarised, anything else by length. */
  private secret(value: string): string {
    if (value.startsWith(REDACTED)) return value;
    // A value that is one private key: its digest over the value as given, as `weft translate` prints it.
    if (/^\s*-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[^-]*-----END \1PRIVATE KEY-----\s*$/.test(value)) return this.key(value);
    if (/PRIVATE KEY-----/.test(value)) return this.text(value).replace(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g, (c) => certificateSummary(c));
    this.counts.secretValues++;
    if (/^\s*-----BEGIN CERTIFICATE-----[\s\S]*-----END CERTIFICATE-----\s*$/.test(value)) return `[redacted ${value.length} bytes: ${certificateSummary(value)}]`;
    return `[redacted ${value.length} bytes]`;
  }

  /** Every string under a sensitive field. */
  private everyString(v: unknown): unknown {
    if (typeof v === 'string') {
      this.counts.sensitiveFields++;
      return this.secret(v);
    }
    if (Array.isArray(v)) return v.map((x) => this.everyString(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.everyString(x)]));
    return v;
  }

  /** Structured data: Secret objects' data and stringData, sensitive fields, then strings as text. */
  value(v: unknown): unknown {
    if (typeof v === 'string') return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (!v || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    const secret = o.kind === 'Secret';
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) {
      if (secret && (k === 'data' || k === 'stringData') && x && typeof x === 'object') {
        out[k] = Object.fromEntries(Object.entries(x as Record<string, unknown>).map(([name, val]) => [name, typeof val === 'string' ? this.secret(k === 'data' ? decodeBase64(val) : val) : val]));
      } else if (secret && k === 'metadata' && x && typeof x === 'object') {
        // kubectl's last-applied-configuration annotation holds a copy of the whole Secret.
        const meta = x as { annotations?: Record<string, string> };
        const annotations = meta.annotations ? Object.fromEntries(Object.entries(meta.annotations).map(([a, val]) => [a, a === 'kubectl.kubernetes.io/last-applied-configuration' ? this.secret(val) : this.text(val)])) : undefined;
        out[k] = { ...(this.value(x) as object), ...(annotations ? { annotations } : {}) };
      } else if (isSensitiveField(k)) {
        out[k] = this.everyString(x);
      } else {
        out[k] = this.value(x);
      }
    }
    return out;
  }

  json(text: string): string {
    try {
      return JSON.stringify(this.value(JSON.parse(text)), null, 2) + '\n';
    } catch {
      return this.text(text);
    }
  }

  /** YAML of one or more documents; text that does not parse is redacted line by line. */
  yaml(text: string): string {
    try {
      const docs = parseAllDocuments(text);
      if (Array.isArray(docs) && docs.every((d) => d.errors.length === 0)) {
        return docs.map((d) => stringify(this.value(d.toJS()), { lineWidth: 0 })).join('---\n');
      }
    } catch {
      // below
    }
    return this.lines(text);
  }

  /** Logs: JSON lines redacted as data, other lines as text with `name: value` / `name=value` fields. */
  lines(text: string): string {
    return text.split('\n').map((line) => {
      const trimmed = line.trim();
      if (trimmed.startsWith('{')) {
        try {
          return JSON.stringify(this.value(JSON.parse(trimmed)));
        } catch {
          // not JSON after all
        }
      }
      return this.text(line).replace(/^(\s*-?\s*"?([\w.-]+)"?\s*[:=]\s*)(\S.*)$/, (all, head: string, name: string, value: string) => (isSensitiveField(name) && !value.startsWith(REDACTED) ? `${head}${this.secret(value)}` : all));
    }).join('\n');
  }
}

function decodeBase64(v: string): string {
  return Buffer.from(v, 'base64').toString('utf8');
}

function certificateSummary(pem: string): string {
  try {
    const c = new X509Certificate(pem);
    return `certificate ${c.subject.replace(/\n/g, ', ')}, not after ${new Date(c.validTo).toISOString()}`;
  } catch {
    return 'certificate';
  }
}
