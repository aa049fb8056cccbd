#!/usr/bin/env -S node --max-semi-space-size=1
// The TypeScript sources run through Node 24's type stripping; this file only points at them. The V8 flag
// is the one `npm start` and the container image use (see the Dockerfile for why).
import '../src/main.ts';
