/**
 * What one client may cost the proxy (docs/decisions/0006-slow-clients-and-silent-vault.md): a budget of
 * requests at once, with a smaller one for requests whose body is still arriving, and a watch that ends a
 * request whose client keeps the proxy waiting: no body byte, or no response byte taken, for the idle
 * timeout, or a body slower than the minimum rate. Only the client's own turns are counted; time the proxy
 * spends waiting for Vault or the upstream, or holding the body back (backpressure), is not.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type ClientLimits = {
  idleTimeoutMs: number;
  /** Bytes per second a body must average after a first `idleTimeoutMs` of grace; 0: no minimum. */
  minBodyRate: number;
  maxRequests: number;
  /** Of `maxRequests`, those whose request body is still arriving. */
  maxUploads: number;
};

/** Which budget refused a request. */
export type Refusal = 'requests' | 'uploads';

export type ClientTimeout = {
  phase: 'request body' | 'response';
  reason: 'idle' | 'too slow';
};

/** One admitted request's hold on the budget; each release happens once, whatever calls it. */
export type Admission = { bodyDone(): void; done(): void };

/** Counts requests at once and, of them, requests still receiving their body. */
export class RequestBudget {
  readonly #maxRequests: number;
  readonly #maxUploads: number;
  #requests = 0;
  #uploads = 0;

  constructor(limits: Pick<ClientLimits, 'maxRequests' | 'maxUploads'>) {
    this.#maxRequests = limits.maxRequests;
    this.#maxUploads = limits.maxUploads;
  }

  get requests(): number {
    return this.#requests;
  }

  get uploads(): number {
    return this.#uploads;
  }

  admit(hasBody: boolean): Admission | Refusal {
    if (this.#requests >= this.#maxRequests) return 'requests';
    if (hasBody && this.#uploads >= this.#maxUploads) return 'uploads';
    this.#requests++;
    let receiving = hasBody;
    if (receiving) this.#uploads++;
    let held = true;
    const bodyDone = () => {
      if (!receiving) return;
      receiving = false;
      this.#uploads--;
    };
    return {
      bodyDone,
      done: () => {
        bodyDone();
        if (!held) return;
        held = false;
        this.#requests--;
      },
    };
  }
}

/** Whose move it is on a connection: the client's (sending the body, taking the response) or the proxy's. */
export type Turn = 'client sends' | 'client reads' | 'proxy';

/** What the watch has seen of one request, in the client's turns only. */
export type Progress = {
  /** Time the body has been the client's turn, since the body began. */
  bodyTurnMs: number;
  /** Body bytes received since the body began. */
  bodyBytes: number;
  /** Time in the client's turn since its last progress. */
  stalledMs: number;
};

/**
 * The rule, pure: a client stalled for the idle timeout has timed out; a body is too slow once the
 * client's time exceeds the grace (the idle timeout) plus 1/rate seconds per byte received, as Apache's
 * mod_reqtimeout `body=20,MinRate=500` counts. Reads have no minimum rate: the response is written in
 * segments, and a reader that takes none for the idle timeout times out.
 */
export function timeoutOf(
  progress: Progress,
  turn: Turn,
  limits: Pick<ClientLimits, 'idleTimeoutMs' | 'minBodyRate'>,
): ClientTimeout | undefined {
  if (turn === 'proxy') return undefined;
  const phase = turn === 'client sends' ? 'request body' : 'response';
  if (progress.stalledMs >= limits.idleTimeoutMs) return { phase, reason: 'idle' };
  if (
    turn === 'client sends' &&
    limits.minBodyRate > 0 &&
    progress.bodyTurnMs > limits.idleTimeoutMs + (progress.bodyBytes * 1000) / limits.minBodyRate
  )
    return { phase, reason: 'too slow' };
  return undefined;
}

/** A request declares a body with a non-zero Content-Length or any Transfer-Encoding. */
export function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Whose turn it is, from the state of the request and response streams. The body is the client's turn
 * once the proxy reads it (a consumer is attached, 100 Continue sent) and has read everything that came:
 * bytes waiting in the request's buffer are the proxy's to take. The response is the client's turn while
 * bytes wait to be flushed to its socket.
 */
export function turnOf(req: IncomingMessage, res: ServerResponse, awaitingContinue: boolean): Turn {
  if (!req.complete && !req.destroyed) {
    if (awaitingContinue || req.readableFlowing === null || req.readableLength > 0) return 'proxy';
    return 'client sends';
  }
  const socket = req.socket;
  if (res.headersSent && !res.writableFinished && (res.writableNeedDrain || socket.writableLength > 0))
    return 'client reads';
  return 'proxy';
}

type Watched = {
  req: IncomingMessage;
  res: ServerResponse;
  awaitingContinue: () => boolean;
  onTimeout: (timeout: ClientTimeout) => void;
  admission: Admission;
  progress: Progress;
  bytesRead: number;
  flushed: number;
};

/** Bytes of the response the kernel has taken from the socket. */
function flushedBytes(req: IncomingMessage): number {
  return req.socket.bytesWritten - req.socket.writableLength;
}

/**
 * Admits requests against the budget and watches the admitted ones on one timer (a tenth of the idle
 * timeout, at most a second), so that a timeout is noticed within that much after it is due.
 */
export class ClientGuard {
  readonly #limits: ClientLimits;
  readonly #budget: RequestBudget;
  readonly #watched = new Set<Watched>();
  readonly #tickMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #lastTick = 0;

  constructor(limits: ClientLimits, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#budget = new RequestBudget(limits);
    this.#tickMs = Math.max(25, Math.min(1000, limits.idleTimeoutMs / 10));
    this.#now = now;
  }

  get budget(): RequestBudget {
    return this.#budget;
  }

  get limits(): Readonly<ClientLimits> {
    return this.#limits;
  }

  /**
   * Admits the request and watches it until its response closes, or says which budget is full (the
   * caller answers; nothing is held then).
   */
  admit(
    req: IncomingMessage,
    res: ServerResponse,
    hooks: { awaitingContinue: () => boolean; onTimeout: (timeout: ClientTimeout) => void },
  ): Refusal | undefined {
    const admission = this.#budget.admit(hasRequestBody(req));
    if (typeof admission === 'string') return admission;
    const watched: Watched = {
      req,
      res,
      ...hooks,
      admission,
      progress: { bodyTurnMs: 0, bodyBytes: 0, stalledMs: 0 },
      bytesRead: req.socket.bytesRead,
      flushed: flushedBytes(req),
    };
    this.#watched.add(watched);
    const bodyDone = () => admission.bodyDone();
    req.once('end', bodyDone).once('close', bodyDone);
    res.once('close', () => {
      admission.done();
      this.#watched.delete(watched);
    });
    this.#start();
    return undefined;
  }

  close(): void {
    this.#stop();
  }

  #start(): void {
    if (this.#timer !== undefined) return;
    this.#lastTick = this.#now();
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
    this.#timer.unref();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops itself once nothing is watched, rather than at each response's end: one interval, not one per request. */
  #tick(): void {
    if (this.#watched.size === 0) {
      this.#stop();
      return;
    }
    const now = this.#now();
    const elapsed = now - this.#lastTick;
    this.#lastTick = now;
    for (const watched of this.#watched) {
      const { req, res, progress } = watched;
      if (req.complete) watched.admission.bodyDone();
      const turn = turnOf(req, res, watched.awaitingContinue());
      const bytesRead = req.socket.bytesRead;
      const flushed = flushedBytes(req);
      const moved = turn === 'client sends' ? bytesRead > watched.bytesRead : flushed > watched.flushed;
      if (!req.complete) progress.bodyBytes += bytesRead - watched.bytesRead;
      if (turn === 'client sends') progress.bodyTurnMs += elapsed;
      progress.stalledMs = turn === 'proxy' || moved ? 0 : progress.stalledMs + elapsed;
      watched.bytesRead = bytesRead;
      watched.flushed = flushed;
      const timeout = timeoutOf(progress, turn, this.#limits);
      if (timeout === undefined) continue;
      this.#watched.delete(watched);
      watched.onTimeout(timeout);
    }
  }
}
