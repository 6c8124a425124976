// Test harness for the action (kept out of test/, where `node --test` would run it as a test): a GitHub-like OIDC issuer, a throwaway database, certificates,
// a real `hoop serve` (HOOP_BIN), and child processes with a runner-like environment; what may
// stand between a runner and hoop (an egress proxy, a flaky ingress, a server that is not hoop);
// and the drivers of later steps (psql, node-postgres, PgJDBC, psycopg2).

import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

export const ACTION_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const AUDIENCE = 'hoop';
export const CONNECTION = 'payments';
export const REPOSITORY = 'acme/payments';
export const REPOSITORY_ID = '4711';
export const TABLE = 'widgets';
const PG = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', '5432', '-U', 'postgres'];
const WAIT_MS = 20_000;
/**
 * Host names no resolver knows but the test proxy (`startProxy`), which maps them to 127.0.0.1:
 * a job that reaches them went through the proxy.
 */
export const PROXIED_HOST = 'hoop.proxied.test';
export const PROXIED_TOKEN_HOST = 'token.proxied.test';
/** PgJDBC as Debian installs it (libpostgresql-jdbc-java; tests/setup). */
export const POSTGRES_JAR = '/usr/share/java/postgresql.jar';
/** The Python Debian's python3-psycopg(2) belong to (a pyenv python3 may come first on PATH). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

// ---------------------------------------------------------------------------------------------
// Processes

/**
 * Runs `command args` to completion (killed after `timeoutMs`). Never synchronous: the issuer
 * in this process must keep answering hoop while children run.
 */
export function run(command, args, { env = process.env, input = '', timeoutMs = WAIT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, output: stdout + stderr });
    });
    if (input) {
      child.stdin.on('error', () => {}); // EPIPE when the child exits without reading it all
      child.stdin.end(input);
    }
  });
}

/** `psql` as the superuser (trust auth on 127.0.0.1). */
export async function adminSql(database, sql) {
  const r = await run('psql', [...PG, '-A', '-t', '-d', database, '-c', sql]);
  if (r.code !== 0) throw new Error(`psql ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The database

/** A database with a table and a NOLOGIN role allowed to SELECT from it. */
export async function createDatabase() {
  const suffix = randomBytes(6).toString('hex');
  const db = { name: `hoop_action_${suffix}`, reader: `hoop_action_${suffix}_reader` };
  await adminSql('postgres', `CREATE DATABASE ${db.name}`);
  await adminSql('postgres', `CREATE ROLE ${db.reader} NOLOGIN`);
  await adminSql(
    db.name,
    `CREATE TABLE ${TABLE} (id integer PRIMARY KEY, name text NOT NULL);
     INSERT INTO ${TABLE} VALUES (1, 'sprocket'), (2, 'gear'), (3, 'cog');
     GRANT SELECT ON ${TABLE} TO ${db.reader};`,
  );
  return db;
}

/** Drops the database first (it holds the grants), then the run roles and the parent role. */
export async function dropDatabase(db) {
  const statements = [
    `DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`,
    `DO $$ DECLARE r record; BEGIN
       FOR r IN SELECT m.rolname FROM pg_auth_members a
                JOIN pg_roles m ON m.oid = a.member JOIN pg_roles p ON p.oid = a.roleid
                WHERE p.rolname = '${db.reader}'
       LOOP EXECUTE format('DROP ROLE %I', r.rolname); END LOOP; END $$`,
    `DROP ROLE IF EXISTS ${db.reader}`,
  ];
  for (const sql of statements) await adminSql('postgres', sql).catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// Certificates (openssl): a CA and a leaf for 127.0.0.1 and localhost

export async function makeCertificates(dir) {
  const path = (name) => join(dir, name);
  const steps = [
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', '/CN=hoop test CA', '-keyout', path('ca.key'), '-out', path('ca.pem')],
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-subj', '/CN=127.0.0.1', '-keyout', path('leaf.key'), '-out', path('leaf.csr')],
    ['x509', '-req', '-in', path('leaf.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'),
      '-CAcreateserial', '-days', '2', '-extfile', path('leaf.ext'), '-out', path('leaf.pem')],
  ];
  writeFileSync(
    path('leaf.ext'),
    `subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:${PROXIED_HOST}\nbasicConstraints = CA:FALSE\n`,
  );
  for (const args of steps) {
    const r = await run('openssl', args);
    if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  }
  return { ca: path('ca.pem'), caKey: path('ca.key'), cert: path('leaf.pem'), key: path('leaf.key') };
}

/**
 * A leaf for 127.0.0.1 signed by the CA of `certs`, with a 768-bit RSA key: below what OpenSSL's
 * default security level lets a client accept, on Node 20 (level 1, 1024 bits) as on Node 24
 * (level 2, 2048 bits).
 */
export async function makeWeakLeaf(dir, certs) {
  const path = (name) => join(dir, name);
  const steps = [
    ['req', '-newkey', 'rsa:768', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', path('weak.key'), '-out', path('weak.csr')],
    ['x509', '-req', '-in', path('weak.csr'), '-CA', certs.ca, '-CAkey', certs.caKey,
      '-CAcreateserial', '-days', '2', '-extfile', path('weak.ext'), '-out', path('weak.pem')],
  ];
  writeFileSync(path('weak.ext'), 'subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\n');
  for (const args of steps) {
    const r = await run('openssl', args);
    if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  }
  return { ca: certs.ca, cert: path('weak.pem'), key: path('weak.key') };
}

/**
 * A TLS front for the plain-HTTP API (what a load balancer would be). `weak`: serve a certificate
 * below OpenSSL's default security level (this server allows it; clients should not).
 */
export function tlsProxy(target, { cert, key, weak = false }) {
  return new Promise((resolve) => {
    const server = tls.createServer(
      { cert: readFileSync(cert), key: readFileSync(key), ...(weak ? { ciphers: 'DEFAULT:@SECLEVEL=0' } : {}) },
      (socket) => {
        // The SNI of each connection (false when the client sent none).
        server.servernames.push(socket.servername);
        const upstream = net.connect(target, '127.0.0.1');
        socket.pipe(upstream).pipe(socket);
        const close = () => { socket.destroy(); upstream.destroy(); };
        socket.on('error', close);
        upstream.on('error', close);
      },
    );
    server.servernames = [];
    closable(server);
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// ---------------------------------------------------------------------------------------------
// What stands between a runner and hoop: an egress proxy, a flaky ingress, the wrong server

/**
 * Gives `server` a `closeAllConnections()` that destroys its open connections (net and tls
 * servers have none; `close()` waits for them), and returns it.
 */
function closable(server) {
  const open = new Set();
  server.on('connection', (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  server.closeAllConnections = () => {
    for (const socket of open) socket.destroy();
  };
  return server;
}

/** The header value of `name` in a raw HTTP request head, or ''. */
function headerOf(head, name) {
  const m = new RegExp(`^${name}:\\s*(.*?)\\s*$`, 'im').exec(head);
  return m ? m[1] : '';
}

/** Maps a host name only this proxy knows (PROXIED_HOST, PROXIED_TOKEN_HOST) to 127.0.0.1. */
function proxyResolve(host) {
  return host === PROXIED_HOST || host === PROXIED_TOKEN_HOST || host === 'localhost' ? '127.0.0.1' : host;
}

/**
 * An HTTP egress proxy as on self-hosted runners (squid-like): CONNECT tunnels and absolute-form
 * requests. `credentials` ("user:password"): required, else 407. `refuse`: answer every request
 * with this status. Records what it was asked: `connects` (CONNECT authorities), `forwarded`
 * (absolute URLs), `authorizations` (Proxy-Authorization headers received).
 */
export function startProxy({ credentials = '', refuse = 0 } = {}) {
  const expected = credentials ? `Basic ${Buffer.from(credentials).toString('base64')}` : '';
  const seen = { connects: [], forwarded: [], authorizations: [] };
  const deny = (auth) => {
    seen.authorizations.push(auth ?? '');
    if (refuse) return refuse;
    if (expected && auth !== expected) return 407;
    return 0;
  };
  const server = http.createServer((req, res) => {
    seen.forwarded.push(req.url);
    const status = deny(req.headers['proxy-authorization']);
    if (status) {
      res.writeHead(status, { 'content-type': 'text/html', server: 'test-proxy', ...(status === 407 ? { 'proxy-authenticate': 'Basic realm="proxy"' } : {}) });
      res.end(`<html><body>${status}</body></html>`);
      return;
    }
    let target;
    try {
      target = new URL(req.url);
    } catch {
      res.writeHead(400, { server: 'test-proxy' }).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const upstream = http.request(
      { host: proxyResolve(target.hostname), port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers },
      (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502, { server: 'test-proxy' }).end());
    req.pipe(upstream);
  });
  closable(server);
  server.on('connect', (req, socket, head) => {
    seen.connects.push(req.url);
    socket.on('error', () => {});
    const status = deny(req.headers['proxy-authorization']);
    if (status) {
      const extra = status === 407 ? 'Proxy-Authenticate: Basic realm="proxy"\r\n' : '';
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${extra}Content-Length: 0\r\n\r\n`);
      return;
    }
    const at = req.url.lastIndexOf(':');
    const host = req.url.slice(0, at).replace(/^\[(.*)\]$/, '$1');
    const upstream = net.connect(Number(req.url.slice(at + 1)), proxyResolve(host));
    upstream.on('connect', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      server.seen = seen;
      server.url = `http://127.0.0.1:${server.address().port}`;
      resolve(server);
    });
  });
}

/**
 * An ingress in front of hoop's API that fails the first `failures` requests, then passes
 * requests through: `mode` '503' answers HTTP 503 (as a load balancer without a healthy
 * backend does; with `Retry-After: retryAfter` when given), 'reset' resets the connection.
 * `set(failures)` re-arms it. `seen` holds the
 * Authorization header of every request that reached it (SSLRequest probes excepted).
 */
export function flakyFront(targetPort, { mode = '503', failures = 0, retryAfter = '' } = {}) {
  const state = { remaining: failures, seen: [] };
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (first) => {
      // The action's "is this a database?" probe: not a request.
      if (first.length === 8 && first.readUInt32BE(4) === 80877103) {
        socket.destroy();
        return;
      }
      state.seen.push(headerOf(first.toString('latin1'), 'authorization'));
      if (state.remaining > 0) {
        state.remaining -= 1;
        if (mode === 'reset') {
          socket.resetAndDestroy();
        } else {
          const body = '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>';
          socket.end(
            `HTTP/1.1 503 Service Temporarily Unavailable\r\nServer: test-ingress\r\nContent-Type: text/html\r\n` +
              (retryAfter ? `Retry-After: ${retryAfter}\r\n` : '') +
              `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          );
        }
        return;
      }
      const upstream = net.connect(targetPort, '127.0.0.1');
      upstream.on('error', () => socket.destroy());
      upstream.write(first);
      socket.pipe(upstream).pipe(socket);
    });
  });
  closable(server);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      server.url = `http://127.0.0.1:${server.address().port}`;
      server.seen = state.seen;
      server.set = (n) => {
        state.remaining = n;
        state.seen.length = 0;
      };
      resolve(server);
    });
  });
}

/**
 * A server that answers like hoop (`x-hoop-api: 1`) with whatever `answer(req)` returns:
 * `{ status, body }` (body an object, sent as JSON, or a string, sent as is). For what a hostile
 * or broken server at the url could send. `headers` holds each request's headers.
 */
export function fakeHoop(answer) {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      const { status, body } = answer(req);
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'x-hoop-api': '1' });
      res.end(text);
    });
  });
  closable(server);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      server.url = `http://127.0.0.1:${server.address().port}`;
      server.headers = seen;
      resolve(server);
    });
  });
}

/** A web server that is not hoop: 404 with an HTML page for every request, as nginx does. */
export function notHoop() {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(404, { 'content-type': 'text/html', server: 'nginx-test' });
    res.end('<html><head><title>404 Not Found</title></head><body>404 Not Found</body></html>');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      server.url = `http://127.0.0.1:${server.address().port}`;
      resolve(server);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// A GitHub-like OIDC issuer

function b64url(value) {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/**
 * Discovery, JWKS, and the runner's token service: `GET /token?audience=X` with
 * `Authorization: bearer <request token>`. Each request token is a "job" with claim overrides,
 * registered with `job()`; every token minted is kept in `minted`.
 */
export async function startIssuer() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jobs = new Map();
  const minted = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, issuer.url);
    const reply = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      return reply(200, { issuer: issuer.url, jwks_uri: `${issuer.url}/jwks`, id_token_signing_alg_values_supported: ['RS256'] });
    }
    if (url.pathname === '/jwks') {
      return reply(200, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
    }
    if (url.pathname === '/token') {
      const auth = req.headers.authorization ?? '';
      const job = /^bearer /i.test(auth) ? jobs.get(auth.slice(7)) : undefined;
      if (!job) return reply(401, { message: 'bad request token' });
      const audience = url.searchParams.get('audience') ?? 'https://github.com/acme';
      const token = issuer.mint({ ...issuer.claims(audience), ...job });
      return reply(200, { count: 1, value: token });
    }
    reply(404, { message: 'not found' });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  const issuer = {
    url: `http://127.0.0.1:${server.address().port}`,
    minted,
    close: () => new Promise((resolve) => server.close(resolve)),
    /** A request token for a job whose claims differ from the default by `overrides`. */
    job(overrides = {}) {
      const requestToken = randomBytes(16).toString('hex');
      jobs.set(requestToken, overrides);
      return requestToken;
    },
    /** GitHub-shaped claims of a push to main of REPOSITORY. */
    claims(audience) {
      const now = Math.floor(Date.now() / 1000);
      const sha = randomBytes(20).toString('hex');
      const workflowRef = `${REPOSITORY}/.github/workflows/deploy.yml@refs/heads/main`;
      return {
        iss: issuer.url,
        aud: audience,
        sub: `repo:${REPOSITORY}:ref:refs/heads/main`,
        jti: randomUUID(),
        iat: now,
        nbf: now,
        exp: now + 300,
        ref: 'refs/heads/main',
        ref_type: 'branch',
        sha,
        repository: REPOSITORY,
        repository_id: REPOSITORY_ID,
        repository_owner: 'acme',
        repository_owner_id: '99',
        run_id: '5150',
        run_number: '7',
        run_attempt: '1',
        actor: 'octocat',
        workflow: 'deploy',
        workflow_ref: workflowRef,
        job_workflow_ref: workflowRef,
        event_name: 'push',
        runner_environment: 'github-hosted',
      };
    },
    mint(claims) {
      const input = `${b64url({ alg: 'RS256', typ: 'JWT', kid })}.${b64url(claims)}`;
      const token = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
      minted.push(token);
      return token;
    },
  };
  return issuer;
}

// ---------------------------------------------------------------------------------------------
// hoop

/**
 * Writes hoop.toml, starts `$HOOP_BIN serve`, and waits for /healthz. The gateway's TLS
 * (`gatewayTls`): 'files+ca' the certificate of `tlsFiles` and its CA as `tls_ca` (hoop hands
 * the CA to jobs as `ca_cert`), 'files' the certificate without `tls_ca` (no `ca_cert`), or
 * 'generated' hoop's own certificate (signed by a CA derived from `secret_key`, handed out).
 * `maxSessions`: the trust rule's max_sessions. `extraConfig`: TOML appended to hoop.toml.
 */
export async function startHoop({ dir, db, issuer, tlsFiles, gatewayTls = 'files+ca', maxSessions = 0, extraConfig = '' }) {
  const bin = process.env.HOOP_BIN;
  if (!bin) {
    throw new Error('HOOP_BIN is not set: build hoop (cargo build -p hoop) and run HOOP_BIN=<target>/debug/hoop node --test action/test/*.test.mjs');
  }
  const apiPort = await freePort();
  const gatewayPort = await freePort();
  const adminUrl = `postgres://postgres@127.0.0.1:5432/${db.name}`;
  const config = `[server]
api_listen = "127.0.0.1:${apiPort}"
gateway_listen = "127.0.0.1:${gatewayPort}"
public_host = "127.0.0.1"
state_database_url = "${adminUrl}"
secret_key = "${randomBytes(32).toString('hex')}"
reaper_interval = "1h"
replica = "action-test"

[gateway]
spool_dir = ${JSON.stringify(join(dir, `spool-${apiPort}`))}
${gatewayTls === 'generated' ? '' : `tls_cert = ${JSON.stringify(tlsFiles.cert)}
tls_key = ${JSON.stringify(tlsFiles.key)}
`}${gatewayTls === 'files+ca' ? `tls_ca = ${JSON.stringify(tlsFiles.ca)}
` : ''}
[[issuers]]
name = "github"
kind = "github"
url = "${issuer.url}"
audience = "${AUDIENCE}"

[[connections]]
name = "${CONNECTION}"
kind = "postgres"
admin_url = "${adminUrl}"
database = "${db.name}"
default_role = "${db.reader}"

[[trust]]
name = "payments-main"
issuer = "github"
claims = { repository_id = "${REPOSITORY_ID}", ref = "refs/heads/main" }
connections = ["${CONNECTION}"]
ttl = "10m"
${maxSessions ? `max_sessions = ${maxSessions}\n` : ''}${extraConfig}`;
  const configPath = join(dir, `hoop-${apiPort}.toml`);
  writeFileSync(configPath, config);
  const logPath = join(dir, `hoop-${apiPort}.log`);
  let log = '';
  const child = spawn(bin, ['serve', '--config', configPath], {
    env: { PATH: process.env.PATH, HOOP_LOG: 'hoop=debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));

  const api = `http://127.0.0.1:${apiPort}`;
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      if ((await fetch(`${api}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`hoop serve did not become healthy (${JSON.stringify(exited)}); log:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    api,
    gatewayPort,
    log: () => log,
    saveLog: () => writeFileSync(logPath, log),
    stop: () =>
      new Promise((resolve) => {
        if (exited) return resolve();
        child.on('exit', resolve);
        child.kill('SIGKILL');
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// A runner-like environment

/**
 * The `default:` of each input in action.yml, as the runner passes it when the workflow does not
 * set the input. A small reader for that file's layout (two-space indents, one-line defaults).
 */
export function actionDefaults() {
  const defaults = {};
  let inInputs = false;
  let name = null;
  for (const line of readFileSync(join(ACTION_DIR, 'action.yml'), 'utf8').split('\n')) {
    if (/^\S/.test(line)) {
      inInputs = line.startsWith('inputs:');
      name = null;
      continue;
    }
    if (!inInputs) continue;
    const input = /^ {2}([A-Za-z0-9_-]+):\s*$/.exec(line);
    if (input) {
      name = input[1];
      defaults[name] = '';
      continue;
    }
    const value = /^ {4}default:\s*(.*?)\s*$/.exec(line);
    if (value && name) defaults[name] = value[1].replace(/^'(.*)'$|^"(.*)"$/, '$1$2');
  }
  return defaults;
}

/** Parses a GITHUB_OUTPUT/GITHUB_ENV/GITHUB_STATE file (`name<<delimiter` blocks). */
export function parseFileCommands(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const values = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(ghadelimiter_[0-9a-f-]+)$/.exec(lines[i]);
    if (!m) {
      if (lines[i] !== '') throw new Error(`${path}: unexpected line ${JSON.stringify(lines[i])}`);
      continue;
    }
    const end = lines.indexOf(m[2], i + 1);
    if (end < 0) throw new Error(`${path}: no closing delimiter for ${m[1]}`);
    values[m[1]] = lines.slice(i + 1, end).join('\n');
    i = end;
  }
  return values;
}

/** One job of a runner: its files, its id-token request credentials, and its inputs. */
export class Job {
  /**
   * `env`: more variables of the runner (proxies). `tokenHost`: the host name in
   * ACTIONS_ID_TOKEN_REQUEST_URL instead of 127.0.0.1 (PROXIED_TOKEN_HOST: only through the proxy).
   */
  constructor(issuer, { inputs = {}, claims = {}, idToken = true, env = {}, tokenHost = '' } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'hoop-action-job-'));
    this.files = {
      GITHUB_ENV: join(this.dir, 'env'),
      GITHUB_OUTPUT: join(this.dir, 'output'),
      GITHUB_STATE: join(this.dir, 'state'),
    };
    for (const path of Object.values(this.files)) writeFileSync(path, '');
    // What the runner sets for every input: the given value or the default of action.yml.
    this.inputs = { ...actionDefaults(), ...inputs };
    this.env = {
      PATH: process.env.PATH,
      HOME: this.dir,
      RUNNER_TEMP: join(this.dir, 'tmp'),
      GITHUB_ACTIONS: 'true',
      // Retries wait milliseconds, not seconds, in tests.
      HOOP_ACTION_RETRY_BASE_MS: '20',
      ...this.files,
      ...env,
    };
    if (idToken) {
      const tokenService = tokenHost ? issuer.url.replace('127.0.0.1', tokenHost) : issuer.url;
      this.env.ACTIONS_ID_TOKEN_REQUEST_URL = `${tokenService}/token?api-version=2.0`;
      this.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = issuer.job(claims);
    }
    for (const [name, value] of Object.entries(this.inputs)) {
      this.env[`INPUT_${name.toUpperCase()}`] = value;
    }
  }

  /**
   * `node action/main.js` as the runner would start it, plus `--pending-deprecation`: APIs that
   * a coming Node release deprecates warn on stderr too.
   */
  main() {
    return run(process.execPath, ['--pending-deprecation', join(ACTION_DIR, 'main.js')], { env: this.env });
  }

  /**
   * `node action/post.js` with the state main saved, as `STATE_<name>`; `without`: state names
   * to leave out (what a hoop that did not hand them out leaves).
   */
  post({ without = [] } = {}) {
    const state = Object.fromEntries(
      Object.entries(this.state())
        .filter(([name]) => !without.includes(name))
        .map(([name, value]) => [`STATE_${name}`, value]),
    );
    return run(process.execPath, ['--pending-deprecation', join(ACTION_DIR, 'post.js')], {
      env: { ...this.env, ...state },
    });
  }

  outputs() {
    return parseFileCommands(this.files.GITHUB_OUTPUT);
  }

  exported() {
    return parseFileCommands(this.files.GITHUB_ENV);
  }

  state() {
    return parseFileCommands(this.files.GITHUB_STATE);
  }

  /**
   * A later step: `psql -X -A -t -c <sql>` with the variables the action exported, or with only
   * `url` (as in `psql "$DATABASE_URL"`), or with `url` and the exported variables (`exported`).
   */
  psql(sql, { url, exported = !url } = {}) {
    const base = { PATH: process.env.PATH, HOME: this.dir, PGCONNECT_TIMEOUT: '10' };
    const env = exported ? { ...base, ...this.exported() } : base;
    const args = ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql];
    return run('psql', url ? [url, ...args] : args, { env });
  }

  /** The environment of a later step: the runner's PATH and HOME plus what the action exported. */
  stepEnv(extra = {}) {
    return { PATH: process.env.PATH, HOME: this.dir, PGCONNECT_TIMEOUT: '10', ...this.exported(), ...extra };
  }

  /**
   * node-postgres (test/drivers/node_modules/pg) in a later step: `new pg.Client({ connectionString })`
   * with `url` (default: the exported DATABASE_URL) and nothing else of the environment (node-postgres
   * would read PG* variables too). Prints the first column of the first row.
   */
  nodePg(sql, { url = this.exported().DATABASE_URL } = {}) {
    const env = { PATH: process.env.PATH, HOME: this.dir, DATABASE_URL: url };
    return run(process.execPath, [join(ACTION_DIR, 'test', 'drivers', 'pg-probe.cjs'), sql], { env });
  }

  /**
   * PgJDBC (Debian's /usr/share/java/postgresql.jar) in a later step: `java Probe.java <jdbcUrl>
   * <sql>`, user and password from the exported PGUSER/PGPASSWORD.
   */
  jdbc(jdbcUrl, sql) {
    const env = { PATH: process.env.PATH, HOME: this.dir, PGUSER: this.exported().PGUSER, PGPASSWORD: this.exported().PGPASSWORD };
    const probe = join(ACTION_DIR, 'test', 'drivers', 'Probe.java');
    return run('java', ['-cp', POSTGRES_JAR, probe, jdbcUrl, sql], { env, timeoutMs: 120_000 });
  }

  /**
   * psycopg 3 or psycopg2 (`driver`; Debian's python3-psycopg, python3-psycopg2) in a later step:
   * `connect(DATABASE_URL)`.
   */
  psycopg(driver, sql, { url = this.exported().DATABASE_URL } = {}) {
    const env = { PATH: process.env.PATH, HOME: this.dir, DATABASE_URL: url };
    return run(SYSTEM_PYTHON, [join(ACTION_DIR, 'test', 'drivers', 'probe.py'), driver, sql], { env });
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The `::add-mask::` values in a step's stdout, unescaped as the runner does. */
export function masks(stdout) {
  return stdout
    .split(/\r?\n/)
    .filter((l) => l.startsWith('::add-mask::'))
    .map((l) =>
      l
        .slice('::add-mask::'.length)
        .replace(/%0D/g, '\r')
        .replace(/%0A/g, '\n')
        .replace(/%25/g, '%'),
    );
}

/** The `::add-mask::` values other than id tokens (the action masks each token it requests). */
export function credentialMasks(stdout) {
  return masks(stdout).filter((m) => !/^eyJ[\w-]*\.[\w-]+\.[\w-]*$/.test(m));
}

/**
 * `output` without its `::add-mask::` commands: what the runner shows of a step (it hides the
 * masked values everywhere else), for checking that no secret was printed.
 */
export function unmasked(output) {
  return output
    .split(/\r?\n/)
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
}
