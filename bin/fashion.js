#!/usr/bin/env node
// The CLI runs the compiled JavaScript in dist/ (`npm run build`; npm install and npm ci build it through
// the `prepare` script), so a deployment needs no dev tools.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(`fashion: ${fileURLToPath(entry)} is missing: the package is not built. Run \`npm run build\` in ${dirname(dirname(fileURLToPath(import.meta.url)))} first.\n`);
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
