// The job's OIDC id token, from the runner's token service.
//
// https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect

import { ActionError, mask } from './runner.js';
import { NetworkError, request } from './http.js';
import { retryable } from './retry.js';

/** Claims a trust rule can pin, printed when hoop finds no rule for the token. */
export const CHECKED_CLAIMS = [
  'iss',
  'aud',
  'sub',
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'ref',
  'ref_type',
  'environment',
  'event_name',
  'workflow_ref',
  'job_workflow_ref',
  'runner_environment',
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
      const through = e.proxy ? ` through proxy ${e.proxy}` : '';
      const hint = e.proxyUnreachable
        ? ` Check ${target.protocol === 'https:' ? 'https_proxy' : 'http_proxy'}, or add the service's host to no_proxy if the runner reaches it directly.`
        : e.proxy
          ? ' If the runner reaches it directly, add its host to no_proxy.'
          : '';
      const error = new ActionError(`Cannot reach the runner's id token service (${target.origin})${through}: ${e.message}.${hint}`);
      throw e.tls ? error : retryable(error, `${e.code || 'a network error'} from the runner's id token service`);
    }
    throw e;
  }
  if (response.status !== 200) {
    const error = new ActionError(
      `The runner's id token service answered HTTP ${response.status} for audience "${audience}": ` +
        `${truncate(response.text)}`,
    );
    throw response.status >= 500 || response.status === 429
      ? retryable(error, `HTTP ${response.status} from the runner's id token service`)
      : error;
  }
  const token = response.json?.value;
  if (typeof token !== 'string' || token.split('.').length !== 3) {
    throw new ActionError("The runner's id token service answered without a token (no \"value\")");
  }
  // Before anything can print it (a server that echoes requests into its error pages).
  mask(token);
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

/**
 * `  name: value` lines of `names` (default: the claims a trust rule checks), leaving out those in
 * `exclude`; absent claims say so.
 */
export function describeClaims(claims, names = CHECKED_CLAIMS, exclude = []) {
  return names
    .filter((name) => !exclude.includes(name))
    .map((name) => {
      const value = claims[name];
      return `  ${name}: ${value === undefined ? '(absent)' : JSON.stringify(value)}`;
    })
    .join('\n');
}

/**
 * A body from a server, shortened for a message, with what could be a secret taken out: a
 * server or proxy that echoes the request (an error page listing its headers) must not print
 * the id token or the proxy's credentials into the log.
 */
export function truncate(text, max = 300) {
  const flat = String(text)
    .replace(/\b(bearer|basic)\s+[^\s"'<>,;]+/gi, '$1 ***')
    .replace(/eyJ[\w-]*\.[\w-]+\.[\w-]*/g, '***')
    .replace(/hoop-revoke\.[\w-]+/g, 'hoop-revoke.***')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat || '(empty body)';
}
