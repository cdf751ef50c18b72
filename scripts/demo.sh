#!/usr/bin/env bash
# One command from a fresh clone to a running onion site: set up, build, write a starter config if there is none,
# then run the stack in the foreground (Ctrl-C stops it; `npx onionscale status` / `down` from another shell).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run build --silent
[ -f onionscale.yaml ] || node dist/cli/main.js init
exec node dist/cli/main.js up "$@"
