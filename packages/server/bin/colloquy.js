#!/usr/bin/env node
// The `colloquy` command as npm links it. npm makes the link at install time (`npm ci`), before
// anything is built, so the link points at this committed file rather than at dist/cli.js: it runs
// the built CLI, or says how to build it.

import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('colloquy: the server is not built yet: run `npm run build` (or `npm start`) in the Colloquy repository first\n');
  process.exit(1);
}
await import(cli.href);
