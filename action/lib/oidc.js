// The job's OIDC id token, from the runner's token service.
//
// https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect

import { ActionError } from './runner.js';
import { NetworkError, request } from './http.js';

/** Claims a trust rule can pin, printed when hoop finds no rule for the token. */
export const CHECKED_CLAIMS = [
  'iss',
  'aud',
  'sub',
  'repository',
  'repository_id',
  'repository_owner_id',
  'ref',
  'environment',
  'event_name',
  'run_id',
  'run_attempt',
];

export const MISSING_PERMISSION =
  'This job cannot request an OIDC id token: ACTIONS_ID_TOKEN_REQUEST_URL is not set. ' +
  'Give the workflow or the job `permissions: id-token: write` (and `contents: read` if it checks ' +
  'out code). Pull requests from forks never receive id tokens.';

/** Requests an id token for `audience`; the token is returned, never printed. */
export async function requestIdToken(audience) {
  const url = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !requestToken) throw new ActionError(MISSING_PERMISSION);

  let target;
  try {
    target = new URL(url);
  } catch {
    throw new ActionError('ACTIONS_ID_TOKEN_REQUEST_URL is not a URL; is this running on a GitHub Actions runner?');
  }
  target.searchParams.set('audience', audience);

  let response;
  try {
    response = await request(target.href, { headers: { authorization: `bearer ${requestToken}` } });
  } catch (e) {
    if (e instanceof NetworkError) {
      throw new ActionError(`Cannot reach the runner's id token service (${target.origin}): ${e.message}`);
    }
    throw e;
  }
  if (response.status !== 200) {
    throw new ActionError(
      `The runner's id token service answered HTTP ${response.status} for audience "${audience}": ` +
        `${truncate(response.text)}`,
    );
  }
  const token = response.json?.value;
  if (typeof token !== 'string' || token.split('.').length !== 3) {
    throw new ActionError("The runner's id token service answered without a token (no \"value\")");
  }
  return token;
}

/**
 * The claims of a compact JWS, decoded without verification: only for telling the user what
 * hoop saw. Returns `{}` when the token cannot be decoded.
 */
export function decodeClaims(token) {
  try {
    const payload = token.split('.')[1];
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) ?? {};
  } catch {
    return {};
  }
}

/** `name: value` lines of the claims a trust rule checks; absent claims say so. */
export function describeClaims(claims) {
  return CHECKED_CLAIMS.map((name) => {
    const value = claims[name];
    return `  ${name}: ${value === undefined ? '(absent)' : JSON.stringify(value)}`;
  }).join('\n');
}

export function truncate(text, max = 300) {
  const flat = String(text).replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat || '(empty body)';
}
