// hoop's HTTP API (docs/api.md): exchange an id token for a credential, revoke a credential.

import { ActionError } from './runner.js';
import { NetworkError, isWeakCertificate, request } from './http.js';
import { decodeClaims, describeClaims, truncate } from './oidc.js';

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
export function apiBase(gatewayUrl) {
  let url;
  try {
    url = new URL(gatewayUrl);
  } catch {
    throw new ActionError(`gateway-url ${JSON.stringify(gatewayUrl)} is not a URL (e.g. https://hoop.internal)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ActionError(`gateway-url must start with https:// (got ${JSON.stringify(gatewayUrl)})`);
  }
  if (url.search || url.hash) {
    throw new ActionError('gateway-url must not have a query or fragment: give the base URL of the hoop API');
  }
  return url.href.replace(/\/+$/, '');
}

/** Explains a failure to reach hoop: nothing listening, DNS, timeout, or TLS. */
function unreachable(base, e, ca) {
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
    return new ActionError(`TLS to hoop at ${base} failed (${e.message}). ${advice}`);
  }
  return new ActionError(
    `Cannot reach hoop at ${base} (${e.message}). Check the gateway-url input and that this runner ` +
      'can reach it (self-hosted runners and firewalls).',
  );
}

async function call(base, path, options, ca) {
  try {
    return await request(`${base}${path}`, { ...options, ca });
  } catch (e) {
    if (e instanceof NetworkError) throw unreachable(base, e, ca);
    throw e;
  }
}

function refusal(response) {
  const error = response.json?.error;
  if (error && typeof error.code === 'string') {
    return new HoopError(response.status, error.code, String(error.message ?? ''));
  }
  return new HoopError(response.status, 'unexpected_response', truncate(response.text));
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
    case 'invalid_request':
      return role
        ? 'The role input needs a hoop that accepts "role" in the exchange request; remove the input or upgrade hoop.'
        : '';
    default:
      if (TRUST_CODES.has(e.code)) {
        return (
          'hoop checked these claims of the id token against its [[trust]] rules:\n' +
          `${describeClaims(decodeClaims(token))}\n` +
          `Ask hoop's operators for a rule that matches them and grants connection "${connection}".`
        );
      }
      if (e.status >= 500) return "hoop or its database is not available right now; see hoop's logs.";
      return '';
  }
}

/**
 * `POST /v1/exchange`. Resolves to the credential document; rejects with an ActionError that
 * says what to do. The token appears in no message.
 */
export async function exchange({ base, token, connection, role, audience, ca }) {
  const body = role ? { connection, role } : { connection };
  const response = await call(
    base,
    '/v1/exchange',
    { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) },
    ca,
  );
  if (response.status === 201 && response.json && typeof response.json.password === 'string') {
    return response.json;
  }
  const e = refusal(response);
  const extra = advice(e, { token, audience, connection, role });
  if (extra) e.message += `\n${extra}`;
  throw e;
}

/**
 * `DELETE /v1/credentials/{id}` with the run's id token. Resolves with `'revoked'` on 204 and with
 * `'revoking'` on 202 (accepted: no new session, sessions ended, the role dropped by hoop's reaper).
 */
export async function revoke({ base, token, credentialId, ca }) {
  const response = await call(
    base,
    `/v1/credentials/${encodeURIComponent(credentialId)}`,
    { method: 'DELETE', headers: { authorization: `Bearer ${token}` } },
    ca,
  );
  if (response.status === 204) return 'revoked';
  if (response.status === 202) return 'revoking';
  throw refusal(response);
}
