// Egress proxies from the environment, read as curl and the Actions runner read them:
// https_proxy/HTTPS_PROXY for https:// targets, http_proxy/HTTP_PROXY for http:// targets,
// no_proxy/NO_PROXY for the hosts reached directly. The lowercase name wins when both are set.
// Node 20's http.request ignores these variables, so the action applies them itself (http.js).

import net from 'node:net';

import { ActionError, mask } from './runner.js';

/** The value of `name`, lowercase first, then uppercase; `''` when neither is set. */
function envVar(env, name) {
  const lower = env[name.toLowerCase()];
  if (lower !== undefined && lower.trim() !== '') return lower.trim();
  return (env[name.toUpperCase()] ?? '').trim();
}

/** A host name as URL gives it, without IPv6 brackets, lower case, without a trailing dot. */
function bareHost(hostname) {
  return hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
}

/** `port` of `url`, or the scheme's default. */
export function portOf(url) {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** One NO_PROXY entry as `{ host, port, subnet }`; `null` for an entry that matches nothing. */
function parseEntry(raw) {
  let entry = raw.trim().toLowerCase();
  if (entry === '') return null;
  if (entry === '*') return { any: true };
  let port = null;
  // [v6]:port, v4:port, name:port; a bare IPv6 address has more than one colon.
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) {
    entry = bracketed[1];
    port = bracketed[2] ? Number(bracketed[2]) : null;
  } else {
    const withPort = /^([^:]+):(\d+)$/.exec(entry);
    if (withPort) {
      entry = withPort[1];
      port = Number(withPort[2]);
    }
  }
  // An IP range (10.0.0.0/8, fd00::/8).
  const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
  if (cidr && net.isIP(cidr[1])) {
    const family = net.isIP(cidr[1]) === 4 ? 'ipv4' : 'ipv6';
    const list = new net.BlockList();
    try {
      list.addSubnet(cidr[1], Number(cidr[2]), family);
    } catch {
      return null;
    }
    return { subnet: list, port };
  }
  // `.example.com`, `*.example.com` and `example.com` all match example.com and its subdomains.
  const host = entry.replace(/^\*?\.+/, '').replace(/\.$/, '');
  return host ? { host, port } : null;
}

/** Whether `no_proxy`/`NO_PROXY` says to reach `url` directly. */
export function bypassesProxy(url, env = process.env) {
  const list = envVar(env, 'no_proxy');
  if (!list) return false;
  const host = bareHost(url.hostname);
  const port = portOf(url);
  const family = net.isIP(host);
  for (const raw of list.split(/[\s,]+/)) {
    const entry = parseEntry(raw);
    if (!entry) continue;
    if (entry.any) return true;
    if (entry.port !== null && entry.port !== port) continue;
    if (entry.subnet) {
      if (family && entry.subnet.check(host, family === 4 ? 'ipv4' : 'ipv6')) return true;
      continue;
    }
    if (host === entry.host) return true;
    if (!family && host.endsWith(`.${entry.host}`)) return true;
  }
  return false;
}

/**
 * The proxy to reach `url` through, or `null` to connect directly:
 * `{ host, port, display, authorization }`. `display` is the proxy's URL without credentials
 * (for messages); `authorization` is the `Proxy-Authorization` header value (never printed).
 */
export function proxyFor(url, env = process.env) {
  const name = url.protocol === 'https:' ? 'https_proxy' : 'http_proxy';
  const value = envVar(env, name);
  if (!value || bypassesProxy(url, env)) return null;
  let proxy;
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new ProxyConfigError(`${name} is not a URL (e.g. http://proxy.internal:3128)`);
  }
  if (proxy.protocol !== 'http:') {
    throw new ProxyConfigError(
      `${name} must be an http:// proxy URL (got ${proxy.protocol}//${proxy.host}); https:// tunnels run through an http:// proxy`,
    );
  }
  const display = `${proxy.protocol}//${proxy.host}`;
  let authorization;
  if (proxy.username || proxy.password) {
    const user = decodeURIComponent(proxy.username);
    const password = decodeURIComponent(proxy.password);
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    // Out of the log whatever prints them (a proxy's error page that echoes the request).
    if (password) mask(password);
    mask(authorization.slice('Basic '.length));
  }
  return { host: bareHost(proxy.hostname), port: portOf(proxy), display, authorization };
}

/** The proxy variables hold something the action cannot use. */
export class ProxyConfigError extends ActionError {}
