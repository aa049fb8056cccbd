#!/usr/bin/env node
// The TypeScript sources run through Node 24's type stripping; this file only points at them.
import '../src/main.ts';
