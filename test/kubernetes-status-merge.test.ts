// mergeStatus: what the operator writes, as a pure function.
import test from 'ava';
import { mergeStatus, statusChanged } from '../src/kubernetes/status-merge.js';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-02-02T00:00:00Z';
const ours = 'weft.dev/gateway-controller';

test('a condition keeps its lastTransitionTime while its status stays, and gets a new one when it flips', (t) => {
  const live = { conditions: [
    { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', observedGeneration: 1, lastTransitionTime: T0 },
    { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'ok', observedGeneration: 1, lastTransitionTime: T0 },
  ] };
  const computed = { conditions: [
    { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', observedGeneration: 2 },
    { type: 'Programmed', status: 'False', reason: 'Invalid', message: 'no listener', observedGeneration: 2 },
  ] };
  const next = mergeStatus(live, computed, ours, T1) as { conditions: Array<{ lastTransitionTime: string; observedGeneration: number }> };
  t.is(next.conditions[0].lastTransitionTime, T0);
  t.is(next.conditions[0].observedGeneration, 2);
  t.is(next.conditions[1].lastTransitionTime, T1);
  t.true(statusChanged(live, next));
});

test('listener conditions are matched by listener name', (t) => {
  const cond = { type: 'Accepted', status: 'True', reason: 'Accepted', message: '', observedGeneration: 1 };
  const live = { listeners: [{ name: 'a', conditions: [{ ...cond, lastTransitionTime: T0 }] }, { name: 'b', conditions: [{ ...cond, lastTransitionTime: T0 }] }] };
  const computed = { listeners: [{ name: 'b', conditions: [cond] }, { name: 'c', conditions: [cond] }] };
  const next = mergeStatus(live, computed, ours, T1) as { listeners: Array<{ name: string; conditions: Array<{ lastTransitionTime: string }> }> };
  t.deepEqual(next.listeners.map((l) => [l.name, l.conditions[0].lastTransitionTime]), [['b', T0], ['c', T1]]);
});

test('route parents: other controllers\' entries stay as they are; Weft\'s are replaced or removed', (t) => {
  const theirs = { parentRef: { name: 'x' }, controllerName: 'example.com/other', conditions: [{ type: 'Accepted', status: 'True', lastTransitionTime: T0 }] };
  const mine = { parentRef: { name: 'gw' }, controllerName: ours, conditions: [{ type: 'Accepted', status: 'True', lastTransitionTime: T0 }] };
  const live = { parents: [theirs, mine] };
  const same = mergeStatus(live, { parents: [{ parentRef: { name: 'gw' }, controllerName: ours, conditions: [{ type: 'Accepted', status: 'True' }] }] }, ours, T1);
  t.deepEqual(same, live);
  t.false(statusChanged(live, same));
  t.deepEqual(mergeStatus(live, undefined, ours, T1), { parents: [theirs] });
});

test('address pool: current addresses are kept, the rest assigned in order, none left when exhausted', async (t) => {
  const { assignAddresses, parseAddressRange } = await import('../src/kubernetes/address-pool.js');
  const range = parseAddressRange('10.0.0.10-10.0.0.12');
  t.deepEqual(parseAddressRange('10.0.0.0/30'), { first: parseAddressRange('10.0.0.1-10.0.0.1').first, last: parseAddressRange('10.0.0.2-10.0.0.2').first });
  t.throws(() => parseAddressRange('10.0.0.12-10.0.0.10'));
  t.throws(() => parseAddressRange('nope'));
  const wanting = [{ namespace: 'a', name: 'g1' }, { namespace: 'a', name: 'g2' }, { namespace: 'a', name: 'g3' }, { namespace: 'a', name: 'g4' }];
  const current = new Map([['a/g2', '10.0.0.10'], ['a/g3', '192.168.0.1']]);
  const out = assignAddresses(range, wanting, current);
  t.deepEqual([...out.entries()].sort(), [['a/g1', '10.0.0.11'], ['a/g2', '10.0.0.10'], ['a/g3', '10.0.0.12']]);
  t.false(out.has('a/g4'));
});
