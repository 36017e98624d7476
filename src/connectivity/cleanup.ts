// Everything a connectivity run creates registers how to remove it here; run() removes it all, newest first,
// once, carrying on past failures (a namespace must not stay because a process refused to die).

export class Cleanup {
  private readonly steps: Array<{ what: string; undo: () => unknown }> = [];
  private running: Promise<string[]> | undefined;

  add(what: string, undo: () => unknown): void {
    // Created while cleaning up (a step still in flight when Ctrl-C came): removed at once.
    if (this.running) void Promise.resolve().then(undo).catch(() => {});
    else this.steps.push({ what, undo });
  }

  /** True once cleaning up began (Ctrl-C): the run must stop creating things and checking. */
  get started(): boolean {
    return this.running !== undefined;
  }

  /** Throws when cleaning up began, so a run interrupted mid-setup goes no further. */
  throwIfStarted(): void {
    if (this.running) throw new Error('interrupted');
  }

  /** Runs every step once (later calls wait for the first); resolves with what could not be removed. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const errors: string[] = [];
      for (const step of this.steps.reverse()) {
        try {
          await step.undo();
        } catch (err) {
          errors.push(`${step.what}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      this.steps.length = 0;
      return errors;
    })();
    return this.running;
  }
}
