#!/usr/bin/env -S node --max-semi-space-size=1 --initial-old-space-size=64
// The proxy runs as the JavaScript that `npm run build` compiles src/ into (dist/): Node 24 could run the
// TypeScript sources through its type stripping, but that keeps about 30 MiB more resident for the
// process's life. The V8 flags are the ones `npm start` and the container image use (docs/decisions/0015-v8-heap-flags.md).
import '../dist/main.js';
