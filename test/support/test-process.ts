import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { waitFor } from './wait-for.js';

/** A Node script of the tests in a process of its own, with the lines it printed. */
export interface TestProcess {
  readonly lines: string[];
  /** Kills it at once (SIGKILL), as a crash would. */
  kill(): void;
  /** Asks it to finish (SIGTERM) and waits until it has exited. */
  terminate(): Promise<void>;
}

/**
 * Starts `script` with `args` and waits until it prints `ready`; `cleanups` gets what kills it
 * when the test ends.
 */
export async function startTestProcess(script: string, args: string[], cleanups: (() => Promise<void>)[]): Promise<TestProcess> {
  const child: ChildProcess = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = (): void => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  cleanups.push(async () => kill());
  const lines: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => lines.push(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(() => lines.includes('ready'), `${script} to start`, 15_000);
  const terminate = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  return { lines, kill, terminate };
}
