/** A real program started for one test: its output kept for error messages, always stopped by PID afterwards. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface TestProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  log: () => string;
}

export function spawnForTest(t: { after: (fn: () => Promise<void>) => void }, file: string, args: string[]): TestProcess {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, log: () => log };
}
