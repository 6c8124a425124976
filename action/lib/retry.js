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

/** An error the caller may try again: `summary` says what happened, for the log line. */
export function retryable(error, summary) {
  error.retryable = true;
  error.summary = summary;
  return error;
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
      const ms = backoff(n);
      log(`hoop: attempt ${n + 1} of ${attempts} after ${e.summary}; waiting ${(ms / 1000).toFixed(1)} s`);
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }
}
