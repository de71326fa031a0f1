#!/usr/bin/env bash
# Checks Node.js before `npm ci` installs Azurite (make install).
#
# The pinned Azurite (package.json) declares Node 22 or newer, as do a few of its
# optional dependencies (Application Insights telemetry, the SQL metadata store). lvmbeat
# uses only Azurite's in-memory table service, whose dependencies declare Node 20 or
# newer, and `make test` passes on Node 20. So: Node 20 is required, 22 recommended.
set -euo pipefail
REQUIRED=20
RECOMMENDED=22
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "Node.js ${REQUIRED}+ and npm are required for Azurite (the local Azure Storage emulator); install them (Debian: apt-get install nodejs npm, or https://nodejs.org) and run make again." >&2
  exit 1
fi
version=$(node --version)
major=${version#v}; major=${major%%.*}
if ! [[ $major =~ ^[0-9]+$ ]] || (( major < REQUIRED )); then
  echo "Node.js ${version} is too old: Azurite's table service needs Node ${REQUIRED} or newer (${RECOMMENDED}+ recommended). Install a newer Node.js and run make again." >&2
  exit 1
fi
if (( major < RECOMMENDED )); then
  echo "Node.js ${version}: the pinned Azurite declares Node ${RECOMMENDED}+, but the table service lvmbeat uses runs on Node ${REQUIRED}+; npm's EBADENGINE warnings (hidden) are expected."
fi
