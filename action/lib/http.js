// A small JSON-over-HTTP client on node:http/node:https. `fetch` cannot be given a CA
// certificate; this can (`ca`), which is what a hoop behind a private CA needs.

import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

const TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 1 << 20;

/** The request could not be completed: nothing answered, TLS failed, or it timed out. */
export class NetworkError extends Error {
  constructor(url, cause) {
    super(cause.code && !String(cause.message).includes(cause.code) ? `${cause.code}: ${cause.message}` : cause.message);
    this.url = url;
    this.code = cause.code ?? '';
    this.tls = isTlsError(cause);
  }
}

// OpenSSL verification codes as Node reports them, and handshake failures.
const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
  'HOSTNAME_MISMATCH',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

function isTlsError(e) {
  if (TLS_CODES.has(e.code) || /^ERR_SSL_|^ERR_TLS_/.test(e.code ?? '')) return true;
  // A verification failure Node has no code for arrives as UNSPECIFIED with OpenSSL's text, e.g.
  // "EE certificate key too weak" (Node 24 applies OpenSSL security level 2: RSA keys under 2048
  // bits are refused where Node 20 accepted them).
  return e.code === 'UNSPECIFIED' && /certificate/i.test(String(e.message));
}

/** OpenSSL refused a key or digest of the certificate chain as too weak for its security level. */
export function isWeakCertificate(e) {
  return /key too (weak|small)|md too weak/i.test(String(e.message));
}

/**
 * Sends one request. Resolves to `{ status, text, json }` for any HTTP status (`json` is
 * `undefined` when the body is not JSON); rejects with a NetworkError otherwise.
 *
 * @param {string} url
 * @param {{ method?: string, headers?: Record<string, string>, body?: string,
 *           ca?: string (PEM, trusted in addition to Node's roots), timeoutMs?: number }} options
 */
export function request(url, { method = 'GET', headers = {}, body, ca, timeoutMs = TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    let target;
    try {
      target = new URL(url);
    } catch {
      reject(new NetworkError(url, { code: 'ERR_INVALID_URL', message: 'not a valid URL' }));
      return;
    }
    const client = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : null;
    if (!client) {
      reject(new NetworkError(url, { code: 'ERR_INVALID_URL', message: 'the URL must start with https:// or http://' }));
      return;
    }
    const allHeaders = { accept: 'application/json', 'user-agent': 'hoop-action', ...headers };
    if (body !== undefined) {
      allHeaders['content-type'] = 'application/json';
      allHeaders['content-length'] = Buffer.byteLength(body);
    }
    const options = { method, headers: allHeaders, timeout: timeoutMs };
    // In addition to Node's bundled roots, not instead of them.
    if (ca && client === https) options.ca = [...tls.rootCertificates, ca];

    const req = client.request(target, options, (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(Object.assign(new Error(`the response is over ${MAX_BODY_BYTES} bytes`), { code: 'ERR_RESPONSE_TOO_LARGE' }));
        } else {
          chunks.push(chunk);
        }
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, text, json });
      });
      res.on('error', (e) => reject(new NetworkError(url, e)));
    });
    req.on('timeout', () => {
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
    });
    req.on('error', (e) => reject(new NetworkError(url, e)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}
