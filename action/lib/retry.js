// Retries of calls to hoop and to the runner's id token service: network errors, HTTP 5xx and
// 429, with exponential backoff and full jitter. Never a 4xx: hoop consumes the token's jti on a
// refusal, and a refusal does not change on its own.

import { info } from './runner.js';

export const ATTEMPTS = 4;
/** Delays are drawn from [0, BASE·2^(n-1)]: at most 3 + 6 + 12 = 21 s of waiting in all. */
const BASE_MS = 3000;

/**
 * The base delay. HOOP_ACTION_RETRY_BASE_MS overrides it, for the action's own tests only (a
 * workflow has no reason to set it).
 */
function baseMs() {
  const value = Number(process.env.HOOP_ACTION_RETRY_BASE_MS);
  return Number.isFinite(value) && value >= 0 && process.env.HOOP_ACTION_RETRY_BASE_MS !== '' ? value : BASE_MS;
}

/** Full jitter: a uniform draw between 0 and the exponential bound of this retry. */
export function backoff(retry, base = baseMs()) {
  return Math.round(Math.random() * base * 2 ** (retry - 1));
}

/** Longest wait a `Retry-After` answer is honoured up to. */
const RETRY_AFTER_CAP_MS = 30_000;

/**
 * An error the caller may try again: `summary` says what happened, for the log line;
 * `retryAfter` is the answer's `Retry-After` header, if any (seconds or an HTTP date).
 */
export function retryable(error, summary, retryAfter) {
  error.retryable = true;
  error.summary = summary;
  error.retryAfterMs = retryAfterMs(retryAfter);
  return error;
}

/** `Retry-After` in milliseconds, capped; 0 when absent or unreadable. */
export function retryAfterMs(value, now = Date.now()) {
  if (typeof value !== 'string' || value.trim() === '') return 0;
  const text = value.trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, RETRY_AFTER_CAP_MS) : 0;
}

/**
 * Calls `attempt(n)` until it resolves, it throws an error not marked `retryable`, or `attempts`
 * calls have failed; then rethrows the last error. Logs each retry:
 * `hoop: attempt 2 of 4 after HTTP 503 from hoop; waiting 1.8 s`.
 */
export async function withRetries(attempt, { attempts = ATTEMPTS, log = info } = {}) {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      if (!e?.retryable || n >= attempts) throw e;
      // The server's Retry-After (up to 30 s) when it asks for longer than the backoff.
      const ms = Math.max(backoff(n), e.retryAfterMs ?? 0);
      log(`hoop: attempt ${n + 1} of ${attempts} after ${e.summary}; waiting ${(ms / 1000).toFixed(1)} s`);
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }
}
