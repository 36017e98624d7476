// Gateway API durations (timeouts, retry backoff) are read by hand, not by a regex: the reading must be the one
// the pattern ^([0-9]+(h|m|s|ms))+$ gives, "ms" before "m", and anything else refused (undefined, never a guess).
import test from 'ava';
import { parseDurationMs } from '../src/gateway/httproute.js';
import { intersectHostnames } from '../src/gateway/hostnames.js';

test('durations: each unit, combinations, "ms" read before "m", leading zeros', (t) => {
  t.is(parseDurationMs('1h'), 3_600_000);
  t.is(parseDurationMs('30m'), 1_800_000);
  t.is(parseDurationMs('10s'), 10_000);
  t.is(parseDurationMs('500ms'), 500);
  t.is(parseDurationMs('1m30s'), 90_000);
  t.is(parseDurationMs('1h1m1s1ms'), 3_661_001);
  t.is(parseDurationMs('1ms5s'), 5001);
  t.is(parseDurationMs('5m5ms'), 300_005);
  t.is(parseDurationMs('0s'), 0);
  t.is(parseDurationMs('007s'), 7000);
});

test('durations: anything but digits-then-unit pieces is refused', (t) => {
  for (const bad of ['', '10', 's', 'ms', '5x', '1m5', ' 1s', '1s ', '1.5s', '-1s', '1S', '1sms', '1hh', '1d']) t.is(parseDurationMs(bad), undefined, bad);
});

test('hostname intersection keeps first occurrences in order, once each', (t) => {
  t.deepEqual(intersectHostnames(undefined, ['b.example.com', 'a.example.com', 'b.example.com']), ['b.example.com', 'a.example.com']);
  t.deepEqual(intersectHostnames(undefined, []), ['*']);
  t.deepEqual(intersectHostnames('*.example.com', ['x.example.com', '*.example.com', 'x.example.com', 'example.com']), ['x.example.com', '*.example.com']);
  t.deepEqual(intersectHostnames('a.example.com', ['*.example.com', 'a.example.com']), ['a.example.com']);
});
