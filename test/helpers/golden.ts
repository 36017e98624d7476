// Golden files: a translator's output compared with the file checked in beside its input, or rewritten with
// WEFT_UPDATE_GOLDEN=1 (read every diff before committing).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';

export const UPDATE_GOLDEN = process.env.WEFT_UPDATE_GOLDEN === '1';

export function matchGolden(t: ExecutionContext, outPath: string, actual: string): void {
  if (UPDATE_GOLDEN) {
    writeFileSync(outPath, actual);
    t.pass();
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(outPath, 'utf8');
  } catch {
    t.fail(`${outPath} is missing; run with WEFT_UPDATE_GOLDEN=1 to create it`);
    return;
  }
  const file = path.basename(outPath);
  t.is(actual, expected, `output differs from ${file} (WEFT_UPDATE_GOLDEN=1 regenerates it)`);
}
