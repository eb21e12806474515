#!/usr/bin/env node
// Plain JavaScript on purpose: it must run on any Node.js to explain what statelab needs.
const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  console.error(
    `statelab runs TypeScript directly and needs Node.js 24 or newer; this is Node.js ${process.version}.\n` +
      'Install Node.js 24 from https://nodejs.org, or from the npm registry:\n' +
      '  npm install --prefix ~/.cache/statelab-node node@24 && export PATH="$HOME/.cache/statelab-node/node_modules/.bin:$PATH"',
  )
  process.exit(1)
}
await import('../src/cli/main.ts')
