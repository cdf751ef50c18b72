/**
 * The built-in forum (`builtin: forum`): the demo site in examples/forum, compiled to dist/forum by `npm run build`.
 * This launcher only exists so built-ins all live in dist/instances; the forum itself imports the library as
 * 'onionscale' like any app would.
 */
const entry = new URL('../forum/main.js', import.meta.url);
await import(entry.href).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  // Not built (a checkout without `npm run build`), or its packages are missing (express and better-sqlite3 are
  // dev/optional dependencies of onionscale: the forum is a demo, not part of the library).
  console.error(`cannot start the built-in forum: ${message}`);
  console.error('  fix: run `npm run build` in the onionscale checkout, or `npm install express better-sqlite3` next to it');
  process.exit(1);
});
