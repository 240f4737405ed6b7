import { ErrorBody } from '../protocol/http.js';
import type { Result } from '../protocol/result.js';

/** An expected refusal with its HTTP status: bad input, a conflict, a missing thing. */
export interface Refusal {
  status: 400 | 401 | 402 | 403 | 404 | 409 | 410 | 422 | 429 | 502 | 503;
  error: string;
  message: string;
  field?: string;
  rule?: string;
  /** Several problems at once (e.g. each booking a lot change could not move). */
  issues?: { field: string; rule: string; message: string }[];
  /** `debt_outstanding`: what is owed and where to pay it. */
  owed?: { amount: number; currency: string };
  payUrl?: string;
}

export const refuse = (
  status: Refusal['status'],
  error: string,
  message: string,
  extra: { field?: string; rule?: string } = {},
): { ok: false; error: Refusal } => ({ ok: false, error: { status, error, message, ...extra } });

/** Thrown by routes; the error handler turns it into its status and an ErrorBody. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly body: ErrorBody;
  constructor(refusal: Refusal) {
    super(refusal.message);
    this.statusCode = refusal.status;
    const { status: _status, ...body } = refusal;
    this.body = body;
  }
}

/** The value, or throw the refusal as an HttpError. */
export function unwrap<T>(r: Result<T, Refusal>): T {
  if (r.ok) return r.value;
  throw new HttpError(r.error);
}

/** The 404 of a route under `/v1/lots/:lotId` when the lot does not exist (or is not the caller's). */
export const lotNotFound = (lotId: string) =>
  new HttpError({
    status: 404,
    error: 'lot_not_found',
    message: `lot ${lotId} not found`,
    field: 'params.lotId',
  });

/** The refusals most routes may answer, for their response schemas. */
export const routeErrors = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  422: ErrorBody,
};
