#!/usr/bin/env bash
# `npm run setup`: installs the dependencies of a fresh clone. It is `npm install`, except that when no prebuilt
# better-sqlite3 binary can be fetched (no access to GitHub), the source build finds Node's headers locally
# (scripts/node-headers.sh) instead of downloading them from nodejs.org. An npm_config_nodedir already set wins.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/node-headers.sh
source scripts/node-headers.sh
npm_config_nodedir=${npm_config_nodedir:-$(node_headers "$(command -v node)")}
export npm_config_nodedir
echo "setup: native addons build against the headers in $npm_config_nodedir when no prebuilt binary is found"
npm install --no-audit --no-fund "$@"
