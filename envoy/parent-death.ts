// Ties a child process's life to this one: Linux's parent-death signal (PR_SET_PDEATHSIG), so that a Weft
// killed with SIGKILL (or crashing) leaves no Envoy behind holding its ports. Node cannot call prctl between
// fork and exec, so util-linux's setpriv sets it and then execs the command (the signal survives exec).
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

// The kernel sends the signal when the *thread* that forked the child exits: Node spawns from the thread that
// calls spawn(), so callers must spawn from the main thread (not a worker_thread that may exit first).
// setpriv sets the signal a moment after the fork: a parent that died in between would go unnoticed, so the
// shell it execs checks that its parent is still this process (after prctl, a later death is signalled).
const CHECK_PARENT = 'test "$PPID" = "$0" || exit 70; exec "$@"';

let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return setprivPath;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat('/usr/bin', '/bin')) {
    const candidate = path.join(dir || '.', 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
      setprivPath = candidate;
      break;
    } catch {
      // not here
    }
  }
  return setprivPath;
}

/** Whether children can be tied to this process (Linux with setpriv). */
export function parentDeathSupported(): boolean {
  return findSetpriv() !== null;
}

/**
 * The command and arguments that run `cmd args…` as a process killed (SIGKILL) when this process dies; the
 * command's PID is the spawned process's PID (everything execs). Unchanged where that is not supported.
 */
export function diesWithParent(cmd: string, args: string[]): [string, string[]] {
  const setpriv = findSetpriv();
  if (!setpriv) return [cmd, args];
  return [setpriv, ['--pdeathsig', 'KILL', '--', '/bin/sh', '-c', CHECK_PARENT, String(process.pid), cmd, ...args]];
}
