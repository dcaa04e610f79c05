import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** A process that ended in a way the soak did not cause: a crash, a failed start, a stop that hung. */
export interface UnexpectedExit {
  name: string;
  code: number | null;
  signal: string | null;
  /** `stop timed out` when it did not stop gracefully in time and was killed. */
  reason: 'exited' | 'stop timed out';
  /** The end of what it wrote to stderr. */
  stderr: string;
}

/**
 * A worker or producer of the soak in a process of its own: `kill` is a crash (SIGKILL), `stop`
 * a graceful shutdown (SIGTERM). Any other end, and any exit code but 0, is unexpected.
 */
export class SoakProcess {
  private readonly child: ChildProcess;
  private readonly lines = new Set<string>();
  private readonly lineWaiters: (() => void)[] = [];
  private expectedEnd: 'kill' | 'stop' | 'finish' | undefined;
  private stopTimedOut = false;
  private exitedAt?: { code: number | null; signal: string | null };
  /** Resolves when the process has exited; with the unexpected exit, if it was one. */
  readonly exited: Promise<UnexpectedExit | undefined>;

  constructor(
    readonly name: string,
    script: string,
    runDir: string,
    private readonly stderrPath: string,
    /** A line after which exiting with 0 is the process's normal end. */
    private readonly finishLine?: string,
  ) {
    const stderr = openSync(stderrPath, 'a');
    this.child = spawn(process.execPath, [script, runDir, name], { stdio: ['ignore', 'pipe', stderr] });
    closeSync(stderr);
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      this.lines.add(line);
      if (line === this.finishLine) this.expectedEnd ??= 'finish';
      for (const wake of this.lineWaiters.splice(0)) wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitedAt = { code, signal };
        for (const wake of this.lineWaiters.splice(0)) wake();
        resolve(this.unexpected(code, signal));
      });
    });
  }

  get running(): boolean {
    return this.exitedAt === undefined;
  }

  /** Resolves once the process has printed `line`; false if it exited first or `timeoutMs` passed. */
  async printed(line: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines.has(line)) {
      if (!this.running || Date.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.lineWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  /** Freezes the process where it is (SIGSTOP), to look at what it has written so far. */
  pause(): void {
    if (this.running) this.child.kill('SIGSTOP');
  }

  resume(): void {
    if (this.running) this.child.kill('SIGCONT');
  }

  /** A crash: SIGKILL, no chance to clean up. */
  kill(): void {
    if (!this.running) return;
    this.expectedEnd = 'kill';
    this.child.kill('SIGKILL');
  }

  /** Asks for a graceful stop; a process still running after `timeoutMs` is killed and counted as unexpected. */
  async stop(timeoutMs: number): Promise<UnexpectedExit | undefined> {
    if (!this.running) return this.exited;
    this.expectedEnd ??= 'stop';
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.stopTimedOut = true;
      this.child.kill('SIGKILL');
    }, timeoutMs);
    const outcome = await this.exited;
    clearTimeout(timer);
    return outcome;
  }

  private unexpected(code: number | null, signal: string | null): UnexpectedExit | undefined {
    if (this.expectedEnd === 'kill' && signal === 'SIGKILL') return undefined;
    if (!this.stopTimedOut && (this.expectedEnd === 'stop' || this.expectedEnd === 'finish') && code === 0) return undefined;
    // Stopped while still loading its modules, before its SIGTERM handler existed: it had taken no work yet.
    if (!this.stopTimedOut && this.expectedEnd === 'stop' && signal === 'SIGTERM') return undefined;
    const stderr = existsSync(this.stderrPath) ? readFileSync(this.stderrPath, 'utf8').trim().split('\n').slice(-10).join('\n') : '';
    return { name: this.name, code, signal, reason: this.stopTimedOut ? 'stop timed out' : 'exited', stderr };
  }
}
