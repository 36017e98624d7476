// The small pure parts of the Ingress translator: annotation values, TLS host coverage, the dedicated
// address pool (stability as Ingresses come and go), CIDR and option checks.
import test from 'ava';
import fc from 'fast-check';
import { assignDedicatedAddresses } from '../src/ingress/addresses.js';
import { parseAnnotations, parseGoDurationMs } from '../src/ingress/annotations.js';
import { ingressOptions, parseCidr } from '../src/ingress/options.js';
import { tlsHostCovers } from '../src/ingress/tls.js';

test('request-timeout takes Go durations (as Cilium does) and refuses anything else', (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['30s', 30_000], ['1m30s', 90_000], ['1.5h', 5_400_000], ['250ms', 250], ['0', 0], ['100us', 1], ['2h45m', 9_900_000],
    ['', undefined], ['30', undefined], ['-5s', undefined], ['30 seconds', undefined], ['s', undefined], ['5d', undefined], ['1m 30s', undefined],
  ];
  for (const [value, ms] of cases) t.is(parseGoDurationMs(value), ms, value);
});

test('annotations: values Cilium accepts; a bad one names the annotation and value and keeps the default', (t) => {
  const ok = parseAnnotations({ 'ingress.weft.dev/force-https': 'disabled', 'ingress.weft.dev/tls-passthrough': 'true', 'ingress.weft.dev/loadbalancer-mode': 'dedicated', 'other.io/x': 'y' });
  t.deepEqual(ok.problems, []);
  t.deepEqual(ok.parsed, { forceHttps: false, tlsPassthrough: true, mode: 'dedicated' });
  const bad = parseAnnotations({ 'ingress.weft.dev/force-https': 'yes please' });
  t.deepEqual(bad.parsed, { tlsPassthrough: false });
  t.deepEqual(bad.problems, [{ field: 'metadata.annotations["ingress.weft.dev/force-https"]', message: 'invalid value "yes please": expected enabled, disabled, true or false; using the default' }]);
});

test('a TLS host covers its own name, one label under a wildcard, and everything for the default certificate', (t) => {
  t.true(tlsHostCovers('foo.com', 'foo.com'));
  t.true(tlsHostCovers('*.foo.com', 'bar.foo.com'));
  t.true(tlsHostCovers('*.foo.com', '*.foo.com'));
  t.false(tlsHostCovers('*.foo.com', 'baz.bar.foo.com'));
  t.false(tlsHostCovers('*.foo.com', 'foo.com'));
  t.false(tlsHostCovers('*.foo.com', 'xfoo.com'));
  t.false(tlsHostCovers('foo.com', '*'));
  t.true(tlsHostCovers('', '*'));
  t.true(tlsHostCovers('', 'any.host'));
});

test('the dedicated pool: distinct usable addresses, and an Ingress keeps its address when younger ones arrive or others leave', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z]{1,8}\/[a-z]{1,8}$/), { minLength: 1, maxLength: 40 }), fc.nat(), (keys, drop) => {
      const pool = '127.0.1.0/26'; // 62 usable addresses
      const first = assignDedicatedAddresses(keys.map((key) => ({ key })), pool, new Set());
      const addresses = [...first.values()];
      if (new Set(addresses).size !== addresses.length) return false;
      if (addresses.some((a) => a === '127.0.1.0' || a === '127.0.1.63' || !a.startsWith('127.0.1.'))) return false;
      // Younger Ingresses (later in the order) never move older ones.
      const more = assignDedicatedAddresses([...keys, 'zz/new1', 'zz/new2'].map((key) => ({ key })), pool, new Set());
      if (keys.some((k) => more.get(k) !== first.get(k))) return false;
      // Removing one moves only Ingresses that had been displaced by a collision.
      const removed = keys[drop % keys.length];
      const alone = (k: string): string => assignDedicatedAddresses([{ key: k }], pool, new Set()).get(k)!;
      const after = assignDedicatedAddresses(keys.filter((k) => k !== removed).map((key) => ({ key })), pool, new Set());
      return keys.filter((k) => k !== removed && first.get(k) === alone(k)).every((k) => after.get(k) === first.get(k));
    }),
  );
  t.pass();
});

test('a full pool assigns no address; excluded addresses are never handed out', (t) => {
  const got = assignDedicatedAddresses([{ key: 'a/1' }, { key: 'a/2' }, { key: 'a/3' }], '127.0.2.0/30', new Set(['127.0.2.1']));
  t.is(got.size, 1);
  t.is([...got.values()][0], '127.0.2.2');
});

test('options: a bad pool, address or port is a usage error naming it', (t) => {
  t.deepEqual(parseCidr('127.0.1.0/24'), { base: 0x7f000100, size: 256 });
  t.throws(() => parseCidr('127.0.1.5/24'), { message: /host bits are set \(did you mean 127\.0\.1\.0\/24\?\)/ });
  t.throws(() => parseCidr('fd00::/64'), { message: /IPv4 CIDR/ });
  t.throws(() => ingressOptions({ sharedAddress: 'localhost' }), { message: /shared address must be an IPv4 address, not "localhost"/ });
  t.throws(() => ingressOptions({ httpPort: 8080, httpsPort: 8080 }), { message: /must differ/ });
  t.throws(() => ingressOptions({ httpPort: 0 }), { message: /HTTP port must be 1-65535, not 0/ });
});
