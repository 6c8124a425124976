// hoop's HTTP API (docs/api.md): exchange an id token for a credential, revoke a credential.

import { ActionError } from './runner.js';
import { NetworkError, isProtocolMismatch, isWeakCertificate, probePostgres, request } from './http.js';
import { decodeClaims, describeClaims, truncate } from './oidc.js';
import { retryable } from './retry.js';

/** Codes whose cause is the token's claims versus the trust rules: show the claims. */
const TRUST_CODES = new Set(['no_matching_trust_rule', 'connection_not_granted', 'pull_request_not_allowed']);

/** hoop answered with an error document. */
export class HoopError extends ActionError {
  constructor(status, code, message) {
    super(`${status >= 500 ? 'hoop could not serve the request' : 'hoop refused'} (HTTP ${status}) ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

/** `https://hoop.example/` → `https://hoop.example`; rejects what is not an http(s) URL. */
export function apiBase(value, input = 'url') {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new ActionError(`${input} ${JSON.stringify(value)} is not a URL: give the base URL of hoop's API, e.g. https://hoop.internal`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ActionError(
      `${input} must start with https:// (got ${JSON.stringify(value)}): give the base URL of hoop's API, e.g. https://hoop.internal, not the gateway's host:port`,
    );
  }
  if (url.search || url.hash) {
    throw new ActionError(`${input} must not have a query or fragment: give the base URL of hoop's API, e.g. https://hoop.internal`);
  }
  if (url.username || url.password) {
    throw new ActionError(`${input} must not carry credentials: hoop authenticates the job by its id token`);
  }
  return url.href.replace(/\/+$/, '');
}

/** " through proxy http://proxy:3128" when the call went through one, else "". */
function via(proxy) {
  return proxy ? ` through proxy ${proxy}` : '';
}

/** Explains a failure to reach hoop: nothing listening, DNS, timeout, TLS, or the proxy. */
function unreachable(base, e, ca) {
  if (e.proxyStatus) {
    const advice =
      e.proxyStatus === 407
        ? 'The proxy wants credentials it did not get or did not accept: put them in the proxy URL (https_proxy=http://user:password@proxy:port).'
        : `Ask the proxy's operators to allow ${new URL(base).host}, or add it to no_proxy if this runner reaches hoop directly.`;
    return new ActionError(`Cannot reach hoop at ${base}${via(e.proxy)} (${e.message}). ${advice}`);
  }
  if (e.tls) {
    let advice;
    if (isWeakCertificate(e)) {
      advice =
        "The certificate of hoop's API, or of its CA, has a key this runner's Node refuses: Node 24 applies " +
        'OpenSSL security level 2 (RSA and DSA keys of at least 2048 bits, EC keys of at least 224 bits). ' +
        'Reissue the certificate with a stronger key.';
    } else if (ca) {
      advice = 'The certificate did not verify against the ca-cert input, or does not name this host.';
    } else {
      advice = 'If hoop uses a private CA, pass its PEM certificate in the ca-cert input.';
    }
    return new ActionError(`TLS to hoop at ${base}${via(e.proxy)} failed (${e.message}). ${advice}`);
  }
  if (e.proxyUnreachable) {
    return new ActionError(
      `Cannot reach hoop at ${base}${via(e.proxy)} (${e.message}). Check ${new URL(base).protocol === 'https:' ? 'https_proxy' : 'http_proxy'} (or add hoop's host to no_proxy if this runner reaches it directly).`,
    );
  }
  const where = e.proxy
    ? 'that the proxy can reach it, or add its host to no_proxy if this runner reaches it directly'
    : 'that this runner can reach it (self-hosted runners and firewalls)';
  return new ActionError(`Cannot reach hoop at ${base}${via(e.proxy)} (${e.message}). Check the url input and ${where}.`);
}

/** The server that answered, for messages: its `server` header, or the proxy that relayed it. */
function answeredBy(response) {
  const server = String(response.headers?.server ?? '').trim();
  if (server) return ` from ${truncate(server, 60)}`;
  return response.proxy ? ` through proxy ${response.proxy}` : '';
}

/**
 * Whether `response` came from hoop's API: it carries `x-hoop-api: 1` (every response of a hoop
 * with the current API), or, from an older hoop, the shape of hoop's documents.
 */
function fromHoop(response) {
  if (response.headers?.['x-hoop-api'] === '1') return true;
  const json = response.json;
  if (json && typeof json.error?.code === 'string') return true;
  if (response.status === 201 && typeof json?.password === 'string') return true;
  // An older hoop's revocation answers 204/202 without a body.
  return response.status === 204 || response.status === 202;
}

/** The URL ends with the API's version: the action adds /v1/… itself. */
function endsWithVersion(base) {
  return /\/v1(\/exchange)?$/.test(new URL(base).pathname);
}

async function call(base, path, options, ca) {
  let response;
  try {
    response = await request(`${base}${path}`, { ...options, ca });
  } catch (e) {
    if (!(e instanceof NetworkError)) throw e;
    // HTTP to a Postgres port: a reset, or TLS that is not TLS. A database answers an SSLRequest.
    if (isProtocolMismatch(e) && (await probePostgres(base))) {
      throw new ActionError(
        `${base} answered like a database, not hoop's API: url is the API's address (api_listen), not the gateway's host:port.`,
      );
    }
    const error = unreachable(base, e, ca);
    // A certificate, a proxy's refusal of access (4xx): trying again changes nothing.
    if (e.tls || (e.proxyStatus && e.proxyStatus < 500 && e.proxyStatus !== 429)) throw error;
    throw retryable(
      error,
      e.proxyStatus
        ? `HTTP ${e.proxyStatus} from the proxy ${e.proxy}`
        : `${e.code || 'a network error'} (cannot reach hoop at ${base}${via(e.proxy)})`,
    );
  }
  const hoop = fromHoop(response);
  if (response.status === 404 && endsWithVersion(base)) {
    throw new ActionError(`${base} ends with the API version: drop /v1 from url (the action adds /v1/exchange itself), e.g. ${base.replace(/\/v1(\/exchange)?$/, '')}.`);
  }
  if (response.status === 407 && response.proxy) {
    throw new ActionError(
      `Cannot reach hoop at ${base}${via(response.proxy)} (the proxy answered HTTP 407). The proxy wants credentials it did not get or did not accept: put them in the proxy URL (http_proxy=http://user:password@proxy:port).`,
    );
  }
  if (response.status >= 500 || response.status === 429) {
    const e = hoop
      ? refusal(response)
      : new ActionError(
          `${base} answered HTTP ${response.status}${answeredBy(response)}, not from hoop's API itself: the load balancer or proxy in front of hoop could not serve it; check that hoop runs and that url routes to it (body: ${truncate(response.text, 200)})`,
        );
    // The role is missing until an operator creates it: waiting a few seconds does not help.
    if (e.code === 'upstream_role_missing') throw e;
    throw retryable(
      e,
      `HTTP ${response.status}${hoop ? ` from hoop (${e.code})` : answeredBy(response)}`,
      response.headers?.['retry-after'],
    );
  }
  if (!hoop) {
    throw new ActionError(
      `${base} is not hoop's API (HTTP ${response.status}${answeredBy(response)}): check url, the base URL of hoop's API (its api_listen address or the ingress in front of it).`,
    );
  }
  return response;
}

function refusal(response) {
  const error = response.json?.error;
  if (error && typeof error.code === 'string') {
    const e = new HoopError(response.status, error.code, String(error.message ?? ''));
    e.claims = Array.isArray(error.claims) ? error.claims.filter((c) => typeof c === 'string') : [];
    return e;
  }
  return new HoopError(response.status, 'unexpected_response', truncate(response.text));
}

/** The claims hoop named, then the other claims a trust rule can check, with this token's values. */
function claimsReport(e, token) {
  const claims = decodeClaims(token);
  const named = e.claims ?? [];
  const lines = [];
  if (named.length) {
    lines.push(`The claims hoop did not accept, as this job's token has them:\n${describeClaims(claims, named)}`);
    lines.push(`The other claims a trust rule can check:\n${describeClaims(claims, undefined, named)}`);
  } else {
    lines.push(`hoop checked these claims of the id token against its [[trust]] rules:\n${describeClaims(claims)}`);
  }
  return { text: lines.join('\n'), claims };
}

/** What to do about a refused exchange, in addition to hoop's own message. */
function advice(e, { token, audience, connection, role }) {
  switch (e.code) {
    case 'audience_mismatch':
      return `This action requested a token for audience "${audience}": set the audience input to the audience hoop names above.`;
    case 'unknown_connection':
      return `Check the connection input ("${connection}") against the [[connections]] of hoop.toml.`;
    case 'unknown_issuer':
      return `The token was issued by ${JSON.stringify(decodeClaims(token).iss)}; hoop needs an [[issuers]] entry with exactly that url.`;
    case 'role_not_granted':
      return `The role input ("${role}") is not the role the matching trust rule grants: change the input, or ask hoop's operators whether the rule changed.`;
    case 'upstream_role_missing':
      return "hoop's operators must create the role named above in the connection's database; retrying does not help until they do.";
    case 'invalid_request':
      return role
        ? 'The role input needs a hoop that accepts "role" in the exchange request; remove the input or upgrade hoop.'
        : '';
    case 'pull_request_not_allowed': {
      const { text, claims } = claimsReport(e, token);
      return (
        `${text}\n` +
        `hoop does not trust runs of event ${JSON.stringify(claims.event_name ?? '(absent)')}: they can run a fork's code or act on anyone's input. ` +
        'Use the database from a workflow that runs on push (or workflow_dispatch, schedule), or, if this workflow never runs ' +
        "untrusted code, ask hoop's operators for allow_pull_requests = true on the rule."
      );
    }
    default:
      if (TRUST_CODES.has(e.code)) {
        return `${claimsReport(e, token).text}\nAsk hoop's operators for a rule that matches them and grants connection "${connection}".`;
      }
      if (e.status >= 500) return "hoop or its database is not available right now; see hoop's logs.";
      return '';
  }
}

/**
 * `POST /v1/exchange`, once. Resolves to the credential document; rejects with an ActionError
 * that says what to do, marked `retryable` for network errors and HTTP 5xx/429. The token
 * appears in no message.
 */
export async function exchange({ base, token, connection, role, audience, ca }) {
  const body = role ? { connection, role } : { connection };
  let response;
  try {
    response = await call(
      base,
      '/v1/exchange',
      { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) },
      ca,
    );
  } catch (e) {
    if (e instanceof HoopError) addAdvice(e, { token, audience, connection, role });
    throw e;
  }
  if (response.status === 201 && response.json && typeof response.json.password === 'string') {
    return checkedCredential(response.json);
  }
  const e = refusal(response);
  addAdvice(e, { token, audience, connection, role });
  throw e;
}

/** What each field of hoop's credential document must look like before it is used. */
const CREDENTIAL_FIELDS = {
  credential_id: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  username: /^[a-z0-9_-]{1,63}$/,
  password: /^[A-Za-z0-9_-]{16,128}$/,
  host: /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]{2,45})$/,
  database: /^[^\s\u0000-\u001f\u007f/?#@]{1,63}$/,
  sslmode: /^(?:disable|allow|prefer|require|verify-ca|verify-full)$/,
  expires_at: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/,
  database_url: /^postgres(?:ql)?:\/\/[^\s\u0000-\u001f\u007f]+$/,
};
const OPTIONAL_FIELDS = {
  trust_rule: /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]{0,200}$/,
  revoke_token: /^hoop-revoke\.[A-Za-z0-9_-]{16,128}$/,
  ca_cert: /^(?:-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$/,
};

/**
 * hoop's credential document, each field checked: a server at the url that is not hoop (or
 * answers for it) must not get a value into a file name, an exported variable or the log.
 */
function checkedCredential(c) {
  const bad = (name) => new ActionError(`hoop's answer has an invalid ${name}: this job does not use it (is url hoop's API?)`);
  for (const [name, shape] of Object.entries(CREDENTIAL_FIELDS)) {
    if (typeof c[name] !== 'string' || !shape.test(c[name])) throw bad(name);
  }
  if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) throw bad('port');
  for (const [name, shape] of Object.entries(OPTIONAL_FIELDS)) {
    if (c[name] !== undefined && c[name] !== null && (typeof c[name] !== 'string' || !shape.test(c[name]))) {
      throw bad(name);
    }
  }
  if (c.max_sessions !== undefined && !(Number.isInteger(c.max_sessions) && c.max_sessions > 0)) {
    throw bad('max_sessions');
  }
  if (Number.isNaN(Date.parse(c.expires_at))) throw bad('expires_at');
  return c;
}

function addAdvice(e, context) {
  const extra = advice(e, context);
  if (extra) e.message += `\n${extra}`;
}

/**
 * `DELETE /v1/credentials/{id}` with `bearer`: the credential's revoke token, or an id token of
 * the run. Resolves with `'revoked'` on 204 and with `'revoking'` on 202 (accepted: no new
 * session, sessions ended, the role dropped by hoop's reaper). Rejects like `exchange`.
 */
export async function revoke({ base, bearer, credentialId, ca }) {
  const response = await call(
    base,
    `/v1/credentials/${encodeURIComponent(credentialId)}`,
    { method: 'DELETE', headers: { authorization: `Bearer ${bearer}` } },
    ca,
  );
  if (response.status === 204) return 'revoked';
  if (response.status === 202) return 'revoking';
  throw refusal(response);
}
