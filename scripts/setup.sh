#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine with Node >= 20.19 for onionscale: the Debian packages tor, haproxy and
# redis-server — plus chromium with `--tests` (the browser tests; the demo does not need it) — only when missing,
# their own system services kept from starting; then the npm dependencies. Idempotent: a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("onionscale needs Node >= 20.19 (this is "+process.version+")"); process.exit(1) }'

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
missing=()
have tor || missing+=(tor)
have haproxy || missing+=(haproxy)
have redis-server || missing+=(redis-server)
# Debian's chromium for the browser tests (test/forum, driven by playwright-core; never downloads a browser build).
if [ "${1:-}" = "--tests" ]; then have chromium || missing+=(chromium); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Keep the packages' system services from starting: onionscale runs its own, on loopback and unix sockets,
  # and a system tor would reach out to the Tor network on its own.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  trap '[ "$policy_added" -eq 1 ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: install when missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
