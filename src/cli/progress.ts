/**
 * Progress of a bucket-wide tool on stderr: a bar redrawn in place on a terminal, a status line every
 * few seconds otherwise (logs, CI), and per-object notes (changes, failures) above either.
 */
export type Tally = Record<string, number>;

export type ProgressOptions = {
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  title: string;
  /** Counter names in display order; each starts at 0. */
  counters: readonly string[];
  /** Non-TTY: milliseconds between status lines. */
  intervalMs?: number;
  /** Leave out the per-object lines of objects that went well (`detail`). */
  quiet?: boolean;
  now?: () => number;
};

const BAR_WIDTH = 24;
const REDRAW_MS = 100;

export class Progress {
  readonly tally: Tally = {};
  readonly #options: ProgressOptions;
  readonly #tty: boolean;
  readonly #now: () => number;
  #done = 0;
  #bytes = 0;
  #total: number | undefined;
  #listed = 0;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #drawn = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#tty = options.stream.isTTY === true;
    this.#now = options.now ?? (() => performance.now());
    for (const name of options.counters) this.tally[name] = 0;
    if (!this.#tty) {
      this.#timer = setInterval(() => this.#line(), options.intervalMs ?? 5_000);
      this.#timer.unref();
    }
  }

  /** Objects found so far by the listing; `complete` once the listing has ended (the total is known). */
  listed(count: number, complete: boolean): void {
    this.#listed = count;
    if (complete) this.#total = count;
    this.#draw();
  }

  /** One object finished with `outcome` (a counter name). */
  count(outcome: string, bytes = 0): void {
    this.tally[outcome] = (this.tally[outcome] ?? 0) + 1;
    this.#done += 1;
    this.#bytes += bytes;
    this.#draw();
  }

  /** A line about one object, printed above the bar. */
  note(line: string): void {
    if (this.#tty && this.#drawn) this.#options.stream.write('\r\x1b[K');
    this.#options.stream.write(`${line}\n`);
    this.#drawn = false;
    this.#draw(true);
  }

  /** A line about one object that went as planned: left out with --quiet. */
  detail(line: string): void {
    if (this.#options.quiet !== true) this.note(line);
  }

  /** Clears the bar (TTY) or prints the last status line, and stops the timer. */
  finish(): void {
    clearInterval(this.#timer);
    if (this.#tty) {
      if (this.#drawn) this.#options.stream.write('\r\x1b[K');
      this.#drawn = false;
    } else {
      this.#line();
    }
  }

  status(): string {
    const counts = this.#options.counters.map((name) => `${name} ${this.tally[name] ?? 0}`).join(', ');
    const of =
      this.#total === undefined ? `${this.#done} of ${this.#listed}+ listed` : `${this.#done}/${this.#total}`;
    return `${this.#options.title}: ${of} objects, ${formatBytes(this.#bytes)} | ${counts}`;
  }

  #draw(force = false): void {
    if (!this.#tty) return;
    const now = this.#now();
    if (!force && now - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = now;
    let bar: string;
    if (this.#total === undefined) {
      bar = '[listing…]';
    } else {
      const fraction = this.#total === 0 ? 1 : this.#done / this.#total;
      const filled = Math.round(fraction * BAR_WIDTH);
      bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
    }
    let text = `${bar} ${this.status()}`;
    const columns = this.#options.stream.columns;
    if (columns !== undefined && columns > 10 && text.length >= columns)
      text = `${text.slice(0, columns - 2)}…`;
    this.#options.stream.write(`\r\x1b[K${text}`);
    this.#drawn = true;
  }

  #line(): void {
    this.#options.stream.write(`${this.status()}\n`);
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
