// The flow agent's tail of the L7 access log file: whole lines only, in order, each once; a file that exists starts
// at its end, one that does not yet at its start; a truncation by another starts over; around AccessLogFileLimit's
// rotation nothing is lost or read twice, including lines appended between the tail's read and the copy.
import { appendFileSync, copyFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { AccessLogFileLimit } from '../src/l7policy/access-log-limit.js';
import { AccessLogTail } from '../src/observe/access-log-tail.js';

/** A tail polled by hand (its timer never fires during a test) and the lines it handed on. */
function follow(t: import('ava').ExecutionContext, file: string, fromStart = false): { tail: AccessLogTail; lines: string[] } {
  const lines: string[] = [];
  const tail = new AccessLogTail(file, (l) => lines.push(...l), { intervalMs: 3_600_000, fromStart });
  t.teardown(() => tail.stop());
  return { tail, lines };
}

function tempFile(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-tail-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'l7-access.log');
}

test('an existing file is followed from its end; a line is handed on once whole, even split inside a character', async (t) => {
  const file = tempFile(t);
  writeFileSync(file, '{"old":1}\n');
  const { tail, lines } = follow(t, file);
  await tail.poll();
  t.deepEqual(lines, [], 'what the file held before is not new');
  appendFileSync(file, '{"a":1}\n{"b":');
  await tail.poll();
  t.deepEqual(lines, ['{"a":1}']);
  const snowman = Buffer.from('"☃"}\n');
  appendFileSync(file, snowman.subarray(0, 2));
  await tail.poll();
  t.deepEqual(lines, ['{"a":1}'], 'no line before its end');
  appendFileSync(file, Buffer.concat([snowman.subarray(2), Buffer.from('\n{"c":3}\n')]));
  await tail.poll();
  t.deepEqual(lines, ['{"a":1}', '{"b":"☃"}', '{"c":3}'], 'the character cut between two reads is whole; empty lines are skipped');
});

test('a file that does not exist yet is read from its start once Envoy creates it; fromStart reads what it holds', async (t) => {
  const file = tempFile(t);
  const { tail, lines } = follow(t, file);
  await tail.poll();
  writeFileSync(file, '1\n2\n');
  await tail.poll();
  t.deepEqual(lines, ['1', '2']);
  const again = follow(t, file, true);
  await again.tail.poll();
  t.deepEqual(again.lines, ['1', '2']);
});

test('a truncation by another (the file shorter than what was read) starts over', async (t) => {
  const file = tempFile(t);
  const { tail, lines } = follow(t, file, true);
  writeFileSync(file, 'one\ntwo\n');
  await tail.poll();
  truncateSync(file, 0);
  appendFileSync(file, 'three\n');
  await tail.poll();
  t.deepEqual(lines, ['one', 'two', 'three']);
});

test('around a rotation: the lines before it, those appended between the read and the copy (from the copy), then the new file', async (t) => {
  const file = tempFile(t);
  const { tail, lines } = follow(t, file, true);
  writeFileSync(file, 'a\nb\n');
  await tail.poll();
  appendFileSync(file, 'c\n');
  await tail.aroundRotation(() => {
    // Envoy writes on while the rotation starts: after the tail's read, before the copy.
    appendFileSync(file, 'd\n');
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    return Promise.resolve();
  });
  appendFileSync(file, 'e\n');
  await tail.poll();
  t.deepEqual(lines, ['a', 'b', 'c', 'd', 'e']);
});

test('a copy shorter than what was read (not this rotation\'s) is not read again', async (t) => {
  const file = tempFile(t);
  const { tail, lines } = follow(t, file, true);
  writeFileSync(file, 'a\nb\n');
  await tail.aroundRotation(() => {
    writeFileSync(`${file}.1`, 'x\n');
    truncateSync(file, 0);
    return Promise.resolve();
  });
  appendFileSync(file, 'c\n');
  await tail.poll();
  t.deepEqual(lines, ['a', 'b', 'c']);
});

test('with AccessLogFileLimit rotating the file it follows, every line is handed on once, in order', async (t) => {
  const file = tempFile(t);
  const { tail, lines } = follow(t, file, true);
  const limit = new AccessLogFileLimit(file, 1024, { intervalMs: 3_600_000, reader: tail });
  t.teardown(() => limit.stop());
  const written: string[] = [];
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 40; i++) {
      const line = JSON.stringify({ round, i, path: `/r${round}/${i}` });
      written.push(line);
      appendFileSync(file, `${line}\n`);
      if (i === 20) await tail.poll();
    }
    await limit.check();
  }
  await tail.poll();
  t.true(limit.rotations >= 5, `the file was rotated (${limit.rotations} times)`);
  t.deepEqual(lines, written);
});
