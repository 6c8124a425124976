// A small JSON-over-HTTP client on node:http/node:tls. `fetch` cannot be given a CA certificate
// and Node 20 ignores https_proxy; this does both: `ca` for a hoop behind a private CA, and the
// runner's egress proxy (proxy.js) with a CONNECT tunnel for https:// targets and absolute-form
// requests for http:// ones.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

import { portOf, proxyFor } from './proxy.js';

const TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 1 << 20;

/**
 * The request could not be completed: nothing answered, TLS failed, the proxy refused, or it
 * timed out. `proxy` is the proxy's URL without credentials when one was used.
 */
export class NetworkError extends Error {
  constructor(url, cause, proxy = null) {
    const prefixed = cause.code && !cause.proxyStatus && !String(cause.message).includes(cause.code);
    super(prefixed ? `${cause.code}: ${cause.message}` : cause.message);
    this.url = url;
    this.code = cause.code ?? '';
    this.tls = isTlsError(cause);
    this.proxy = proxy;
    /** The proxy's HTTP status when it refused the CONNECT. */
    this.proxyStatus = cause.proxyStatus ?? 0;
    /** Nothing answered at the proxy's address. */
    this.proxyUnreachable = Boolean(proxy) && PROXY_CONNECT_CODES.has(this.code);
    if (this.proxyUnreachable) this.message = `the proxy does not answer: ${this.message}`;
  }
}

// Errors of a connection to the proxy itself: with a proxy, every connection goes to it first.
const PROXY_CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

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
 * What a server that does not speak HTTP (or TLS) does to an HTTP request: closes or resets the
 * connection, answers bytes that are not HTTP, or answers a TLS ClientHello with something that
 * is not TLS. A Postgres port does all of these; `probePostgres` tells which it was.
 */
export function isProtocolMismatch(e) {
  if (!(e instanceof NetworkError) || e.proxyStatus) return false;
  if (['ECONNRESET', 'EPIPE', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG'].includes(e.code)) return true;
  if (/^HPE_/.test(e.code)) return true;
  return e.code === 'EPROTO' && /wrong version number|packet length too long|record/i.test(e.message);
}

/** `[::1]` → `::1`: URL keeps IPv6 brackets, sockets want the address. */
function bare(hostname) {
  return hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * Opens a CONNECT tunnel to `host:port` through `proxy`; resolves to the raw socket. Rejects with
 * an error carrying `proxyStatus` when the proxy answers anything but 2xx.
 */
function tunnel(proxy, host, port, track) {
  return new Promise((resolve, reject) => {
    const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    const headers = { host: authority };
    if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
    const req = http.request({ host: proxy.host, port: proxy.port, method: 'CONNECT', path: authority, headers, agent: false });
    track(req);
    const refused = (res) => {
      res.resume();
      reject(
        Object.assign(new Error(`the proxy answered HTTP ${res.statusCode}${res.statusMessage ? ` ${res.statusMessage}` : ''} to CONNECT ${authority}`), {
          code: 'ERR_PROXY_REFUSED',
          proxyStatus: res.statusCode,
        }),
      );
    };
    req.on('connect', (res, socket, head) => {
      if (res.statusCode < 200 || res.statusCode > 299) {
        socket.destroy();
        refused(res);
        return;
      }
      if (head?.length) socket.unshift(head);
      track(socket);
      resolve(socket);
    });
    // Some Node versions report a refused CONNECT as an ordinary response.
    req.on('response', (res) => refused(res));
    req.on('error', reject);
    req.end();
  });
}

/** A raw TCP socket to `url`'s host and port, through its proxy when one applies. */
function rawSocket(target, proxy, track) {
  const host = bare(target.hostname);
  const port = portOf(target);
  if (proxy) return tunnel(proxy, host, port, track);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    track(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** TLS over `socket` to `target` (SNI = its host name; not sent for an IP address). */
function startTls(socket, target, ca, track) {
  return new Promise((resolve, reject) => {
    const host = bare(target.hostname);
    const options = { socket, host, ALPNProtocols: ['http/1.1'] };
    if (!net.isIP(host)) options.servername = host;
    if (ca) options.ca = [...tls.rootCertificates, ca];
    const secure = tls.connect(options);
    track(secure);
    secure.once('secureConnect', () => resolve(secure));
    secure.once('error', reject);
  });
}

/**
 * Sends one request. Resolves to `{ status, headers, text, json, proxy }` for any HTTP status
 * (`json` is `undefined` when the body is not JSON; `proxy` is the proxy's URL without
 * credentials, or `null`); rejects with a NetworkError otherwise. Proxies come from the
 * environment (`env`, default `process.env`).
 *
 * @param {string} url
 * @param {{ method?: string, headers?: Record<string, string>, body?: string,
 *           ca?: string (PEM, trusted in addition to Node's roots), timeoutMs?: number,
 *           env?: Record<string, string> }} options
 */
export function request(url, { method = 'GET', headers = {}, body, ca, timeoutMs = TIMEOUT_MS, env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    let target;
    try {
      target = new URL(url);
    } catch {
      reject(new NetworkError(url, { code: 'ERR_INVALID_URL', message: 'not a valid URL' }));
      return;
    }
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      reject(new NetworkError(url, { code: 'ERR_INVALID_URL', message: 'the URL must start with https:// or http://' }));
      return;
    }
    let proxy;
    try {
      proxy = proxyFor(target, env);
    } catch (e) {
      reject(e);
      return;
    }
    const shown = proxy?.display ?? null;

    const live = [];
    const track = (thing) => live.push(thing);
    let settled = false;
    const finish = () => {
      settled = true;
      clearTimeout(timer);
    };
    const fail = (e) => {
      if (settled) return;
      finish();
      for (const thing of live) thing.destroy();
      reject(new NetworkError(url, e, shown));
    };
    const timer = setTimeout(
      () => fail(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );

    const allHeaders = { accept: 'application/json', 'user-agent': 'hoop-action', ...headers };
    if (body !== undefined) {
      allHeaders['content-type'] = 'application/json';
      allHeaders['content-length'] = Buffer.byteLength(body);
    }

    // `args`: `[url, options]` or `[options]`, as client.request takes them.
    const send = (client, args) => {
      const req = client.request(...args, (res) => {
        const chunks = [];
        let size = 0;
        res.on('data', (chunk) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            fail(Object.assign(new Error(`the response is over ${MAX_BODY_BYTES} bytes`), { code: 'ERR_RESPONSE_TOO_LARGE' }));
          } else {
            chunks.push(chunk);
          }
        });
        res.on('end', () => {
          if (settled) return;
          finish();
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          for (const thing of live) if (thing !== req) thing.destroy();
          resolve({ status: res.statusCode, headers: res.headers, text, json, proxy: shown });
        });
        res.on('error', fail);
      });
      track(req);
      req.on('error', fail);
      if (body !== undefined) req.write(body);
      req.end();
    };

    const path = `${target.pathname}${target.search}`;
    if (!proxy) {
      const options = { method, headers: allHeaders, agent: false };
      // In addition to Node's bundled roots, not instead of them.
      if (ca && target.protocol === 'https:') options.ca = [...tls.rootCertificates, ca];
      send(target.protocol === 'https:' ? https : http, [target, options]);
    } else if (target.protocol === 'http:') {
      // Absolute form: the proxy forwards the request.
      const proxied = { ...allHeaders, host: target.host };
      if (proxy.authorization) proxied['proxy-authorization'] = proxy.authorization;
      send(http, [{ host: proxy.host, port: proxy.port, method, path: target.href, headers: proxied, agent: false }]);
    } else {
      // CONNECT, then TLS to the target over the tunnel: the proxy sees only host and port.
      rawSocket(target, proxy, track)
        .then((socket) => startTls(socket, target, ca, track))
        .then((secure) => {
          if (settled) return;
          send(http, [{ method, path, headers: { ...allHeaders, host: target.host }, createConnection: () => secure }]);
        })
        .catch(fail);
    }
  });
}

/**
 * Whether a Postgres server listens at `url`'s host and port: sends an SSLRequest and reads the
 * one-byte answer (`S` or `N`) a Postgres server (or hoop's gateway) gives. Through the proxy when
 * one applies. Never rejects.
 */
export async function probePostgres(url, { env = process.env, timeoutMs = 3000 } = {}) {
  const live = [];
  const track = (thing) => live.push(thing);
  let timer;
  try {
    const target = new URL(url);
    const proxy = proxyFor(target, env);
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const probe = rawSocket(target, proxy, track).then(
      (socket) =>
        new Promise((resolve) => {
          socket.once('data', (data) => resolve(data[0] === 0x53 || data[0] === 0x4e));
          socket.once('error', () => resolve(false));
          socket.once('close', () => resolve(false));
          // Int32 length 8, Int32 80877103: SSLRequest.
          socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
        }),
    );
    return await Promise.race([probe, timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    for (const thing of live) thing.destroy();
  }
}
