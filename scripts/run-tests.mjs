#!/usr/bin/env node
// Runs node's test runner over every *.test.ts (units next to their code in src/, integration and e2e in test/).
// Node 20's --test takes no globs, so the files are listed here. `--unit` runs only src/.
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
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...selected], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
