/**
 * AdmissionReview v1 in and out (admission.k8s.io/v1). Still pure: the HTTP layer parses JSON, calls
 * `reviewAdmission` and writes what it returns.
 */
import { mutatePod } from './mutate.ts';
import type { SidecarOptions } from './options.ts';
import type { KubePod } from './patch.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  resource?: { group?: string; version?: string; resource?: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation?: string;
  object?: unknown;
  dryRun?: boolean;
  [field: string]: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON Patch document. */
  patch?: string;
  status?: { status: 'Failure'; code: number; reason: string; message: string };
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** What happened, for the webhook's log and metrics; never part of the answer. */
export type AdmissionOutcome = 'injected' | 'skipped' | 'refused' | 'ignored';

const MESSAGE_PREFIX = 'cloudtaser-s3-proxy injector: ';
/** The API server shows warnings to kubectl users; it asks for them to be short. */
const MAX_WARNING = 120;

function isPodCreate(request: AdmissionRequest): boolean {
  const isPod =
    (request.kind?.kind === 'Pod' && (request.kind.group ?? '') === '') ||
    (request.resource?.resource === 'pods' && (request.resource.group ?? '') === '');
  return isPod && (request.subResource ?? '') === '' && request.operation === 'CREATE';
}

/**
 * One admission decision. Anything that is not the creation of a pod is allowed unchanged (the chart's
 * rules send only pod creations, but the answer must be right whatever is sent).
 */
export function mutate(
  request: AdmissionRequest,
  options: SidecarOptions,
): { response: AdmissionResponse; outcome: AdmissionOutcome; detail: string } {
  const uid = request.uid;
  if (!isPodCreate(request)) {
    return { response: { uid, allowed: true }, outcome: 'ignored', detail: 'not a pod creation' };
  }
  const pod = request.object;
  if (typeof pod !== 'object' || pod === null) {
    return refuse(uid, ['the request carries no pod object']);
  }
  const mutation = mutatePod(pod as KubePod, options);
  switch (mutation.action) {
    case 'skip':
      return { response: { uid, allowed: true }, outcome: 'skipped', detail: mutation.reason };
    case 'refuse':
      return refuse(uid, mutation.errors);
    case 'inject': {
      const response: AdmissionResponse = {
        uid,
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(mutation.patch)).toString('base64'),
      };
      if (mutation.warnings.length > 0) {
        response.warnings = mutation.warnings.map((w) =>
          w.length > MAX_WARNING ? `${w.slice(0, MAX_WARNING - 1)}…` : w,
        );
      }
      return { response, outcome: 'injected', detail: `${mutation.patch.length} patch operations` };
    }
  }
}

function refuse(
  uid: string,
  errors: readonly string[],
): { response: AdmissionResponse; outcome: 'refused'; detail: string } {
  const message = `${MESSAGE_PREFIX}${errors.join('; ')}`;
  return {
    response: {
      uid,
      allowed: false,
      status: { status: 'Failure', code: 400, reason: 'BadRequest', message },
    },
    outcome: 'refused',
    detail: errors.join('; '),
  };
}

export type ReviewResult =
  | {
      ok: true;
      review: AdmissionReview;
      outcome: AdmissionOutcome;
      detail: string;
      request: AdmissionRequest;
    }
  | { ok: false; error: string };

/** A decoded AdmissionReview body → the AdmissionReview to send back, or why the body is not one. */
export function reviewAdmission(body: unknown, options: SidecarOptions): ReviewResult {
  if (typeof body !== 'object' || body === null) return { ok: false, error: 'the body is not a JSON object' };
  const review = body as { apiVersion?: unknown; kind?: unknown; request?: unknown };
  if (review.apiVersion !== ADMISSION_API_VERSION || review.kind !== 'AdmissionReview') {
    return {
      ok: false,
      error: `expected apiVersion ${ADMISSION_API_VERSION}, kind AdmissionReview; got ${String(review.apiVersion)}, ${String(review.kind)}`,
    };
  }
  const request = review.request as AdmissionRequest | undefined;
  if (
    typeof request !== 'object' ||
    request === null ||
    typeof request.uid !== 'string' ||
    request.uid === ''
  ) {
    return { ok: false, error: 'the AdmissionReview has no request.uid' };
  }
  const { response, outcome, detail } = mutate(request, options);
  return {
    ok: true,
    review: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response },
    outcome,
    detail,
    request,
  };
}
