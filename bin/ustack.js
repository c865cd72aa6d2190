#!/usr/bin/env node
// The `ustack` command: the compiled CLI lives in dist/ (built by `npm install`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(`ustack: ${err?.message ?? err}`); process.exitCode = 1; },
);
