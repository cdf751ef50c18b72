#!/usr/bin/env node
// Runs node's test runner over every *.test.ts (units next to their code in src/, integration and e2e in test/).
// Node 20's --test takes no globs, so the files are listed here. `--unit` runs only src/.
// Two phases: everything light two files at a time, then the heavy suites that bring up whole stacks under load or
// a private Tor network (test/faults, test/e2e) one file at a time, so they never starve each other of the 2 cores
// their bounded waits assume.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const roots = process.argv.includes('--unit') ? ['src'] : ['src', 'test'];
const extra = process.argv.slice(2).filter((a) => a !== '--unit');
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
};
for (const r of roots) walk(r);
const selected = extra.length ? files.filter((f) => extra.some((e) => f.includes(e))) : files;
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const heavy = (f) => f.startsWith(join('test', 'faults')) || f.startsWith(join('test', 'e2e'));
const phases = [
  { files: selected.filter((f) => !heavy(f)), concurrency: 2 },
  { files: selected.filter(heavy), concurrency: 1 },
].filter((p) => p.files.length > 0);

const run = (phase) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${phase.concurrency}`, ...phase.files], { stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });

// Both phases always run, so one failure does not hide another.
let failed = 0;
for (const phase of phases) {
  const code = await run(phase);
  if (code !== 0) failed = code;
}
process.exit(failed);
