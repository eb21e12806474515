# Sourced by .ci/run: puts Node.js >= 24 first on PATH. When the machine's node is older, the npm registry's
# `node@24` package is installed once into ~/.cache/statelab-node.
statelab_node_dir="$HOME/.cache/statelab-node"
node_is_new_enough() {
  command -v node >/dev/null 2>&1 && node -e 'process.exit(+process.versions.node.split(".")[0] >= 24 ? 0 : 1)'
}
if ! node_is_new_enough; then
  if [ ! -x "$statelab_node_dir/node_modules/.bin/node" ]; then
    echo "ci: installing node@24 from the npm registry into $statelab_node_dir"
    npm install --prefix "$statelab_node_dir" --no-save --no-package-lock --no-audit --no-fund node@24 >/dev/null
  fi
  export PATH="$statelab_node_dir/node_modules/.bin:$PATH"
fi
node_is_new_enough || { echo "ci: Node.js >= 24 is required and could not be installed" >&2; exit 1; }
echo "ci: node $(node --version), npm $(npm --version 2>/dev/null)"
