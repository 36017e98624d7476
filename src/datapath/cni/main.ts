// Entry point of bin/weft-cni: reads the network configuration from stdin, acts on CNI_COMMAND, writes the
// result (or the CNI error object) to stdout.
import { readFileSync } from 'node:fs';
import { invoke } from './plugin.js';

let stdin = '';
try {
  stdin = readFileSync(0, 'utf8');
} catch {
  // no stdin (VERSION may come without one)
}
const { stdout, exitCode } = invoke({ env: process.env, stdin });
process.stdout.write(stdout);
process.exitCode = exitCode;
