import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogFile } from './log-file.js';

test('appends lines with mode 0600 and rotates to .1 past the size limit, keeping every line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-log-'));
  try {
    const path = join(dir, 'web-1.log');
    writeFileSync(path, 'old\n', { mode: 0o600 });
    const log = new LogFile(path, 100);
    for (let i = 0; i < 30; i++) log.write(`line ${String(i).padStart(2, '0')}`);
    await log.close();
    await log.close();
    const current = readFileSync(path, 'utf8');
    const rotated = readFileSync(`${path}.1`, 'utf8');
    assert.ok(statSync(path).size <= 100, `current log is ${statSync(path).size} bytes`);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    // Only one generation is kept: the newest lines are in the two files, in order, none cut in half.
    const lines = (rotated + current).split('\n').filter(Boolean);
    assert.equal(lines.at(-1), 'line 29');
    for (const l of lines) assert.match(l, /^(old|line \d\d)$/);
    const nums = lines.filter((l) => l !== 'old').map((l) => Number(l.slice(5)));
    assert.deepEqual(nums, [...nums].sort((a, b) => a - b));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
