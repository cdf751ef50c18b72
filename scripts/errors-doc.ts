// Regenerates docs/errors.md from src/errors.ts: `npx tsx scripts/errors-doc.ts > docs/errors.md`.
// src/errors.test.ts fails when the two drift apart.
import { ERROR_CODES } from '../src/errors.js';

const areas: Record<string, string> = {
  CONFIG: 'Config file', RENDER: 'Renderers', STACK: 'Supervisor', CLI: 'Command line', CIRCUIT: 'Requests',
  BODY: 'Requests', BAD: 'Requests', CACHE: 'Cache', HTTP: 'HTTP cache',
};
let out = '# Error codes\n\nEvery error onionscale throws has a stable `code`; match on it, never on the message.\n' +
  'The CLI prints the message, how to fix it and the code; it exits with 2 for config and usage errors, 1 otherwise.\n';
let current = '';
for (const [code, { status, hint }] of Object.entries(ERROR_CODES)) {
  const area = areas[code.split('_')[2] ?? ''] ?? 'Other';
  if (area !== current) {
    out += `\n## ${area}\n\n| code | HTTP status | how to fix |\n|---|---|---|\n`;
    current = area;
  }
  out += `| \`${code}\` | ${status} | ${hint.replace(/\|/g, '\\|')} |\n`;
}
process.stdout.write(out);
