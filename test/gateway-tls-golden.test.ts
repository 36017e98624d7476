// Golden files for Gateway API TLS: test/testdata/gateway/tls-<case>.tmpl.yaml → tls-<case>.out.yaml.
// Certificates are made at test time (no key is committed): in a template, ${CERT_B64:name} and
// ${KEY_B64:name} stand for a generated certificate/key (base64, for Secret data), ${CA_PEM:name} for a
// CA's PEM (indented for a ConfigMap block scalar), where `name` is `<cn>` (self-signed leaf for cn, with
// SAN cn), `ca-<x>` (a CA) or `expired-<cn>`. The output puts names back in place of the PEM and of the
// redacted keys' digests, so it is stable. WEFT_UPDATE_GOLDEN=1 rewrites the .out files.
import { readdirSync, readFileSync } from 'node:fs';
import forge from 'node-forge';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import { translationReport } from '../src/cli/translate.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { redactedKey } from '../src/xds/translator/readable.js';
import { CertFactory, type CertKey } from './helpers/tls.js';
import { matchGolden } from './helpers/golden.js';

const DIR = path.join(projectRoot(), 'test', 'testdata', 'gateway');
const cases = readdirSync(DIR).filter((n) => n.startsWith('tls-') && n.endsWith('.tmpl.yaml')).map((n) => n.slice(0, -'.tmpl.yaml'.length)).sort();

const factory = new CertFactory();
test.after.always(() => factory.close());
const made = new Map<string, CertKey>();

function material(name: string): CertKey {
  let c = made.get(name);
  if (c) return c;
  if (name.startsWith('ca-')) c = factory.ca(name);
  else if (name.startsWith('expired-')) c = expired(name.slice('expired-'.length));
  else c = factory.leaf(name, [name]);
  made.set(name, c);
  return c;
}

/** A self-signed certificate whose validity ended yesterday (openssl 3.0 cannot backdate; node-forge can). */
function expired(cn: string): CertKey {
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 3 * 86400_000);
  cert.validity.notAfter = new Date(Date.now() - 86400_000);
  const subject = [{ name: 'commonName', value: cn }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 2, value: cn }] }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey), fingerprint256: '' };
}

function expand(template: string): string {
  return template.replace(/\$\{(CERT_B64|KEY_B64|CA_PEM):([a-z0-9.-]+)\}/g, (_m, what: string, name: string) => {
    const c = material(name);
    if (what === 'CERT_B64') return Buffer.from(c.cert).toString('base64');
    if (what === 'KEY_B64') return Buffer.from(c.key).toString('base64');
    return c.cert.trim().split('\n').join('\n    ');
  });
}

/** Generated PEM and key digests back to their names. */
function stabilize(value: unknown): unknown {
  if (typeof value === 'string') {
    let s = value;
    for (const [name, c] of made) {
      s = s.split(c.cert).join(`<certificate ${name}>\n`).split(c.cert.trim()).join(`<certificate ${name}>`);
      s = s.split(redactedKey(c.key)).join(`[redacted private key of ${name}]`);
    }
    return s;
  }
  if (Array.isArray(value)) return value.map(stabilize);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stabilize(v)]));
  return value;
}

test('there are TLS golden cases', (t) => {
  t.true(cases.length > 0);
});

for (const name of cases) {
  test(`golden TLS: ${name}`, (t) => {
    const text = expand(readFileSync(path.join(DIR, `${name}.tmpl.yaml`), 'utf8'));
    const report = translationReport(translateYaml(`${name}.in.yaml`, text), 'all');
    const printed = JSON.stringify(report);
    for (const [key, c] of made) {
      t.false(printed.includes(c.key.trim().split('\n')[1]), `the private key of ${key} is printed`);
    }
    const actual = stringify(stabilize(report), { lineWidth: 0 });
    const outPath = path.join(DIR, `${name}.out.yaml`);
    matchGolden(t, outPath, actual);
  });
}
