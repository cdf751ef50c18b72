/** A built-in static instance: `node static.js <folder>` serves the folder on $HOST:$PORT. */
import { runInstance } from './runner.js';
import { staticHandler } from './static-files.js';

const root = process.argv[2];
if (!root) {
  console.error('usage: static.js <folder>');
  process.exit(2);
}
runInstance(staticHandler(root));
