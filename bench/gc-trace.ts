/**
 * Preloaded into the proxy (NODE_OPTIONS=--import) when BENCH_TRACE_GC=1: NODE_OPTIONS does not accept
 * --trace-gc, so the flag is set from inside. V8 then prints one line per collection to stdout, which the
 * benchmark counts per row (see countGc in targets.ts).
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--trace-gc');
