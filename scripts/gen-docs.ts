// Regenerates the files derived from code: docs/errors.md (from src/errors.ts), docs/config.md and
// schema/onionscale.schema.json (from the zod config schema). Run `npx tsx scripts/gen-docs.ts` after changing
// either; src/generated-docs.test.ts fails when they drift.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedDocs } from '../src/generated-docs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const [file, text] of Object.entries(generatedDocs())) {
  mkdirSync(dirname(join(root, file)), { recursive: true });
  writeFileSync(join(root, file), text);
  console.log(`wrote ${file}`);
}
