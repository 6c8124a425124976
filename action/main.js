// The action's main step: id token → hoop credential → masked outputs and libpq environment.

import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { exchange } from './lib/hoop.js';
import { readInputs } from './lib/inputs.js';
import { decodeClaims, requestIdToken } from './lib/oidc.js';
import { withRetries } from './lib/retry.js';
import { ActionError, exportVariable, info, mask, saveState, setFailed, setOutput } from './lib/runner.js';

/**
 * Writes the CA certificate where psql can read it; returns the path. Named for the credential,
 * so two uses of the action in one job (two hoops, two CAs) do not overwrite each other's.
 */
function writeCaFile(pem, credentialId) {
  const dir = process.env.RUNNER_TEMP || tmpdir();
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `hoop-ca-${credentialId}.pem`);
  writeFileSync(path, pem, { mode: 0o644 });
  return path;
}

/** The URL with the query parameters `params` set, replacing those of the same name. */
function withParams(url, params) {
  const at = url.indexOf('?');
  const base = at < 0 ? url : url.slice(0, at);
  const query = at < 0 ? '' : url.slice(at + 1);
  const kept = query.split('&').filter((p) => p && !Object.hasOwn(params, p.split('=')[0]));
  const added = Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  return `${base}?${[...kept, ...added].join('&')}`;
}

/**
 * The URL without its password: `postgres://user:secret@host/db` → `postgres://user@host/db`.
 * `''` when the password would still be in it (a URL of another shape than hoop's): an output
 * left empty is better than one that leaks.
 */
function withoutPassword(url, password) {
  const stripped = url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*):[^@/?#]*@/i, '$1@');
  return stripped.includes(password) || stripped.includes(encodeURIComponent(password)) ? '' : stripped;
}

/** `jdbc:postgresql://host:port/db?sslmode=…[&sslrootcert=…]`: no user, no password. */
function jdbcUrl(c, sslmode, rootCert) {
  const host = c.host.includes(':') && !c.host.startsWith('[') ? `[${c.host}]` : c.host;
  const params = { sslmode };
  if (rootCert) params.sslrootcert = rootCert;
  return withParams(`jdbc:postgresql://${host}:${c.port}/${encodeURIComponent(c.database)}`, params);
}

/** The claims of the token the exchange used, in a collapsed group of the log. */
function printClaims(token) {
  const claims = decodeClaims(token);
  info('::group::hoop: id token claims');
  for (const name of Object.keys(claims).sort()) info(`${name}: ${JSON.stringify(claims[name])}`);
  info('::endgroup::');
}

async function main() {
  const inputs = readInputs();
  // A fresh id token for every attempt: hoop accepts a token once.
  const { c, token } = await withRetries(async () => {
    const token = await requestIdToken(inputs.audience);
    return { c: await exchange({ ...inputs, token }), token };
  });

  // Before anything else can print them.
  mask(c.password);
  mask(c.database_url);
  if (typeof c.revoke_token === 'string' && c.revoke_token !== '') mask(c.revoke_token);
  // For post: the id, and the revoke token when hoop gave one (an older hoop did not;
  // post then revokes with a fresh id token of the run). Never the password.
  saveState('credential_id', c.credential_id);
  saveState('expires_at', c.expires_at);
  if (typeof c.revoke_token === 'string' && c.revoke_token !== '') saveState('revoke_token', c.revoke_token);

  // The CA of the gateway's certificate: the one hoop hands out, else the ca-cert input (the CA
  // of the API, which often signs both). With either, clients verify the gateway (verify-full).
  let sslmode = c.sslmode || 'require';
  let databaseUrl = c.database_url;
  let rootCert = '';
  const gatewayCa = typeof c.ca_cert === 'string' && c.ca_cert.includes('-----BEGIN CERTIFICATE-----') ? c.ca_cert : inputs.ca;
  if (gatewayCa) {
    rootCert = writeCaFile(gatewayCa, c.credential_id);
    sslmode = 'verify-full';
    databaseUrl = withParams(databaseUrl, { sslmode, sslrootcert: rootCert });
    mask(databaseUrl);
  }
  const maxSessions = Number.isInteger(c.max_sessions) ? String(c.max_sessions) : '';

  printClaims(token);

  setOutput('credential-id', c.credential_id);
  setOutput('username', c.username);
  setOutput('host', c.host);
  setOutput('port', String(c.port));
  setOutput('database', c.database);
  // The password reaches an output only when the workflow asks for it (output-credentials): an
  // output is copied wherever an expression puts it (script text, other actions' inputs, job
  // outputs). Without it the URL still names the user, host, port, database and TLS settings,
  // and libpq-based clients take the password from PGPASSWORD.
  setOutput('database-url', inputs.outputCredentials ? databaseUrl : withoutPassword(databaseUrl, c.password));
  setOutput('jdbc-url', jdbcUrl(c, sslmode, rootCert));
  setOutput('ca-cert-file', rootCert);
  setOutput('max-sessions', maxSessions);
  setOutput('expires-at', c.expires_at);

  if (inputs.exportEnv) {
    const env = {
      PGHOST: c.host,
      PGPORT: String(c.port),
      PGUSER: c.username,
      PGPASSWORD: c.password,
      PGDATABASE: c.database,
      PGSSLMODE: sslmode,
      DATABASE_URL: databaseUrl,
    };
    if (rootCert) env.PGSSLROOTCERT = rootCert;
    for (const [name, value] of Object.entries(env)) exportVariable(name, value);
  }

  info(
    `hoop: credential ${c.credential_id} for ${c.username}@${c.host}:${c.port}/${c.database} ` +
      `(sslmode ${sslmode}${rootCert ? ` with CA ${rootCert}` : ''}${c.trust_rule ? `, trust rule ${c.trust_rule}` : ''}` +
      `${maxSessions ? `, at most ${maxSessions} session${maxSessions === '1' ? '' : 's'} at once` : ''}), expires at ${c.expires_at}` +
      (inputs.exportEnv ? '; PG* variables and DATABASE_URL exported to the next steps' : '') +
      (inputs.outputCredentials
        ? '; the database-url output carries the password (output-credentials: true)'
        : '; the database-url output has no password (set output-credentials: true to include it)'),
  );
}

main().catch((e) => setFailed(e instanceof ActionError ? e.message : (e?.stack ?? String(e))));
