// The plan's drain bookkeeping, on a clock the test holds: removals after a listener change wait for Envoy's
// drain time, and a refusal for the drain always leaves a time to look again, even when asked past its end
// (a timer firing a hair early once left the old cluster held for good: xds-listener-drain timed out in CI).
import test from 'ava';
import { httpListener } from '../src/xds/builders.js';
import { listenerResource } from '../src/xds/envoy-resources.js';
import { Snapshot } from '../src/xds/snapshot.js';
import { StreamPlan } from '../src/xds/stream-plan.js';
import { TypeUrl } from '../src/xds/type-urls.js';

/** A plan whose client holds the snapshot's one listener, which replaced `http` version `old`: its chains drain. */
function planAfterListenerChange(drainMs: number): StreamPlan {
  const listener = listenerResource(httpListener({ name: 'http', address: '127.0.0.1', port: 20001, routeConfigName: 'routes' }));
  const plan = new StreamPlan(drainMs);
  plan.snapshot = Snapshot.of([listener]);
  const track = plan.track(TypeUrl.Listener);
  track.requested = true;
  track.wildcard = true;
  const target = plan.snapshot.resources(TypeUrl.Listener);
  plan.listenersAcked(new Map([['http', 'old']]), target);
  track.applyAck({ target, fingerprint: 'now' });
  return plan;
}

test('removals wait for the drain time plus margin after a listener change, and say when to look again', (t) => {
  const plan = planAfterListenerChange(1000);
  t.true(plan.lateTypesConverged());
  t.false(plan.removalsAllowed(1000), 'refused: the replaced chains are draining');
  t.is(plan.drainingUntil, 2500, 'drain time 1000 ms plus 500 ms margin, from the first look after convergence');
  t.is(plan.takeDrainRetryMs(1000), 1500);
  t.is(plan.takeDrainRetryMs(1000), undefined, 'taken once');
  t.true(plan.removalsAllowed(2500));
  t.is(plan.takeDrainRetryMs(2500), undefined, 'nothing refused: no timer');
});

test('a look a hair before the drain ends, asked about after it ended, still gets a time to look again', (t) => {
  const plan = planAfterListenerChange(1000);
  t.false(plan.removalsAllowed(1000));
  t.is(plan.takeDrainRetryMs(1000), 1500);
  // The timer fired early: refused again at 2499.6, and the stream asks at 2500.4, past the end.
  t.false(plan.removalsAllowed(2499.6));
  t.is(plan.takeDrainRetryMs(2500.4), 1, 'at least 1 ms, never "no timer"');
  t.true(plan.removalsAllowed(2501.4));
});

test('a refusal because listeners and routes have not converged leaves no drain timer (their ACK looks again)', (t) => {
  const plan = planAfterListenerChange(1000);
  plan.track(TypeUrl.Listener).inFlight = { nonce: '2', target: new Map(), fingerprint: 'next', sentAt: 0 };
  t.false(plan.lateTypesConverged());
  t.false(plan.removalsAllowed(1000));
  t.is(plan.takeDrainRetryMs(1000), undefined);
});
