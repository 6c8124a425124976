// The action's real main.js and post.js against the real `hoop serve` ($HOOP_BIN), a test OIDC
// issuer serving the runner's id-token endpoint, and psql. Needs Postgres on 127.0.0.1:5432 with
// trust auth for `postgres`, psql and openssl.
//
//   HOOP_BIN=target/debug/hoop node --test action/test/*.test.mjs

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  AUDIENCE,
  CONNECTION,
  Job,
  TABLE,
  adminSql,
  createDatabase,
  dropDatabase,
  freePort,
  makeCertificates,
  makeWeakLeaf,
  credentialMasks,
  masks,
  unmasked,
  startHoop,
  startIssuer,
  tlsProxy,
} from '../testing/harness.mjs';

let dir;
let db;
let issuer;
let hoop;
let certs;
let proxy;
let weakProxy;
const jobs = [];

function job(options) {
  const j = new Job(issuer, options);
  jobs.push(j);
  return j;
}

function inputs(extra = {}) {
  return { url: hoop.api, connection: CONNECTION, ...extra };
}

async function credentialState(id) {
  return adminSql(db.name, `SELECT state FROM hoop_credentials WHERE id = '${id}'`);
}

/**
 * The `::add-mask::` lines form one block, before anything printed after hoop answered (what
 * precedes them, deprecation warnings and retries, knows no secret), and `secret` appears in no
 * other line of its stdout or stderr: the runner masks it from the first line it could see it in.
 */
function assertMaskedFirst(step, secret) {
  const lines = step.stdout.split('\n');
  const first = lines.findIndex((l) => l.startsWith('::add-mask::'));
  assert.ok(first >= 0, step.stdout);
  const after = lines.slice(first).findIndex((l) => !l.startsWith('::add-mask::')) + first;
  assert.ok(after > first, step.stdout);
  assert.ok(lines.slice(after).every((l) => !l.startsWith('::add-mask::')), step.stdout);
  assert.ok(masks(step.stdout).includes(secret), 'the secret was not masked');
  const others = [...lines.slice(0, first), ...lines.slice(after)].join('\n') + step.stderr;
  assert.ok(!others.includes(secret), 'the secret was printed');
}

/** Nothing the step printed contains a token this test's issuer minted, nor its signature. */
function assertNoToken(printed) {
  const output = unmasked(printed);
  assert.ok(issuer.minted.length > 0, 'the issuer minted a token');
  for (const token of issuer.minted) {
    const signature = token.split('.')[2];
    assert.ok(!output.includes(signature), 'a token signature was printed');
  }
}

describe('hoop GitHub Action', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoop-action-test-'));
    certs = await makeCertificates(dir);
    issuer = await startIssuer();
    db = await createDatabase();
    hoop = await startHoop({ dir, db, issuer, tlsFiles: certs, maxSessions: 3 });
    proxy = await tlsProxy(Number(new URL(hoop.api).port), certs);
    weakProxy = await tlsProxy(Number(new URL(hoop.api).port), { ...(await makeWeakLeaf(dir, certs)), weak: true });
  });

  after(async () => {
    await hoop?.stop();
    await issuer?.close();
    for (const server of [proxy, weakProxy]) {
      await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    }
    if (db) await dropDatabase(db);
    for (const j of jobs) j.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exchanges, exports masked variables psql can use, and revokes in post', async () => {
    const j = job({ inputs: inputs() });
    const main = await j.main();
    assert.equal(main.code, 0, main.output);
    // No runtime warning (deprecations included) on the Node that runs the suite.
    assert.equal(main.stderr, '');

    const out = j.outputs();
    const env = j.exported();
    const state = j.state();
    const password = env.PGPASSWORD;
    assert.match(password, /^[A-Za-z0-9_-]{43}$/);
    const hoopUrl = `postgres://${out.username}:${password}@127.0.0.1:${hoop.gatewayPort}/${db.name}?sslmode=require`;
    // hoop handed out the gateway's CA (ca_cert): written to RUNNER_TEMP, named for the
    // credential, verify-full everywhere.
    const rootCert = join(j.env.RUNNER_TEMP, `hoop-ca-${out['credential-id']}.pem`);
    assert.equal(readFileSync(rootCert, 'utf8').trim(), readFileSync(certs.ca, 'utf8').trim());
    const fullUrl = `postgres://${out.username}:${password}@127.0.0.1:${hoop.gatewayPort}/${db.name}?sslmode=verify-full&sslrootcert=${encodeURIComponent(rootCert)}`;
    const revokeToken = state.revoke_token;
    assert.match(revokeToken, /^hoop-revoke\./);

    // The password, the revoke token and the URLs holding the password are masked, before
    // anything else is printed.
    // The id token first (requested before anything else), then what the exchange handed out.
    assert.match(masks(main.stdout)[0], /^eyJ/);
    assert.deepEqual(credentialMasks(main.stdout), [password, hoopUrl, revokeToken, fullUrl]);
    assertMaskedFirst(main, password);
    assertMaskedFirst(main, revokeToken);
    assertNoToken(main.output);

    // The claims of the token hoop accepted, in a collapsed group: values, never the token.
    const group = main.stdout.slice(main.stdout.indexOf('::group::hoop: id token claims\n'), main.stdout.indexOf('::endgroup::'));
    assert.ok(group.length > 0, main.stdout);
    assert.match(group, /^repository_id: "4711"$/m);
    assert.match(group, /^job_workflow_ref: "acme\/payments\/\.github\/workflows\/deploy\.yml@refs\/heads\/main"$/m);
    assert.match(group, /^jti: "[0-9a-f-]{36}"$/m);
    assert.ok(!group.includes(password) && !group.includes(revokeToken), group);

    // By default no output carries the password; database-url is the URL without it.
    for (const [name, value] of Object.entries(out)) {
      assert.ok(!value.includes(password), `output ${name} carries the password`);
    }
    assert.match(main.stdout, /the database-url output has no password \(set output-credentials: true/);

    assert.deepEqual(Object.keys(out).sort(), [
      'ca-cert-file', 'credential-id', 'database', 'database-url', 'expires-at', 'host', 'jdbc-url',
      'max-sessions', 'port', 'username',
    ]);
    assert.match(out['credential-id'], /^[0-9a-f-]{36}$/);
    assert.match(out.username, /^run-5150-1-/);
    assert.equal(out.host, '127.0.0.1');
    assert.equal(out.port, String(hoop.gatewayPort));
    assert.equal(out.database, db.name);
    assert.ok(!Number.isNaN(Date.parse(out['expires-at'])));
    assert.equal(
      out['database-url'],
      `postgres://${out.username}@127.0.0.1:${hoop.gatewayPort}/${db.name}?sslmode=verify-full&sslrootcert=${encodeURIComponent(rootCert)}`,
    );
    assert.equal(out['ca-cert-file'], rootCert);
    assert.equal(out['max-sessions'], '3');
    assert.equal(
      out['jdbc-url'],
      `jdbc:postgresql://127.0.0.1:${hoop.gatewayPort}/${db.name}?sslmode=verify-full&sslrootcert=${encodeURIComponent(rootCert)}`,
    );
    assert.match(main.stdout, /\(sslmode verify-full with CA .*hoop-ca-[0-9a-f-]{36}\.pem, trust rule payments-main, at most 3 sessions at once\)/);

    // The exported environment carries the password, as before.
    assert.deepEqual(env, {
      PGHOST: '127.0.0.1',
      PGPORT: String(hoop.gatewayPort),
      PGUSER: out.username,
      PGPASSWORD: password,
      PGDATABASE: db.name,
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: rootCert,
      DATABASE_URL: fullUrl,
    });
    // post gets the id and the revoke token, never the password.
    assert.deepEqual(state, { credential_id: out['credential-id'], expires_at: out['expires-at'], revoke_token: revokeToken });

    // A later step of the job: unchanged psql, through the gateway.
    const psql = await j.psql(`select count(*) from ${TABLE}`);
    assert.equal(psql.code, 0, psql.output);
    assert.equal(psql.stdout.trim(), '3');
    assert.equal(await credentialState(out['credential-id']), 'active');
    // The password-less database-url output connects with the exported PGPASSWORD, not alone.
    const withEnv = await j.psql('select 1', { url: out['database-url'], exported: true });
    assert.equal(withEnv.code, 0, withEnv.output);
    const alone = await j.psql('select 1', { url: out['database-url'] });
    assert.notEqual(alone.code, 0, 'the database-url output connected without a password');

    const minted = issuer.minted.length;
    const post = await j.post();
    assert.equal(post.code, 0, post.output);
    assert.equal(post.stderr, '');
    assert.match(post.stdout, new RegExp(`revoked credential ${out['credential-id']}`));
    assert.ok(!post.stdout.includes('::warning::'), post.stdout);
    assertNoToken(post.output);
    // With the revoke token, masked first: no id token was requested.
    assert.deepEqual(masks(post.stdout), [revokeToken]);
    assertMaskedFirst(post, revokeToken);
    assert.equal(issuer.minted.length, minted, 'post requested an id token although it had the revoke token');

    assert.equal(await credentialState(out['credential-id']), 'revoked');
    const dead = await j.psql('select 1');
    assert.notEqual(dead.code, 0, 'the revoked credential still connects');
  });

  it('output-credentials: true puts the password in database-url, masked before it is set', async () => {
    const j = job({ inputs: inputs({ 'output-credentials': 'true' }) });
    const main = await j.main();
    assert.equal(main.code, 0, main.output);

    const out = j.outputs();
    const env = j.exported();
    const password = env.PGPASSWORD;
    assert.equal(
      out['database-url'],
      `postgres://${out.username}:${password}@127.0.0.1:${hoop.gatewayPort}/${db.name}?sslmode=verify-full&sslrootcert=${encodeURIComponent(env.PGSSLROOTCERT)}`,
    );
    assert.equal(out['database-url'], env.DATABASE_URL);
    // The password, the URLs and the revoke token are masked, and the masks precede everything else.
    assert.deepEqual(credentialMasks(main.stdout), [password, out['database-url'].replace(/sslmode=.*/, 'sslmode=require'), j.state().revoke_token, out['database-url']]);
    assertMaskedFirst(main, password);
    assertMaskedFirst(main, out['database-url']);
    // The other outputs still carry no password.
    for (const [name, value] of Object.entries(out)) {
      if (name !== 'database-url') assert.ok(!value.includes(password), `output ${name} carries the password`);
      assert.ok(!value.includes(j.state().revoke_token), `output ${name} carries the revoke token`);
    }
    assert.match(main.stdout, /the database-url output carries the password \(output-credentials: true\)/);

    // The output alone connects.
    const psql = await j.psql(`select count(*) from ${TABLE}`, { url: out['database-url'] });
    assert.equal(psql.code, 0, psql.output);
    assert.equal(psql.stdout.trim(), '3');
    assert.equal((await j.post()).code, 0);
    assert.equal(await credentialState(out['credential-id']), 'revoked');
  });

  it('with ca-cert and no output-credentials, database-url keeps verify-full but not the password', async () => {
    const api = `https://127.0.0.1:${proxy.address().port}`;
    const j = job({ inputs: inputs({ url: api, 'ca-cert': readFileSync(certs.ca, 'utf8') }) });
    const main = await j.main();
    assert.equal(main.code, 0, main.output);
    const out = j.outputs();
    const env = j.exported();
    assert.equal(out['database-url'], env.DATABASE_URL.replace(`:${env.PGPASSWORD}@`, '@'));
    assert.ok(!out['database-url'].includes(env.PGPASSWORD));
    assert.match(out['database-url'], /^postgres:\/\/run-[^:@]+@127\.0\.0\.1:\d+\/.*\?sslmode=verify-full&sslrootcert=%2F/);
    assertMaskedFirst(main, env.PGPASSWORD);
    assertMaskedFirst(main, env.DATABASE_URL);
    const viaUrl = await j.psql('select 1', { url: out['database-url'], exported: true });
    assert.equal(viaUrl.code, 0, viaUrl.output);
    assert.equal((await j.post()).code, 0);
  });

  it('with ca-cert, calls hoop over verified TLS and exports verify-full for psql', async () => {
    const api = `https://127.0.0.1:${proxy.address().port}`;
    const j = job({ inputs: inputs({ url: api, 'ca-cert': readFileSync(certs.ca, 'utf8') }) });
    const main = await j.main();
    assert.equal(main.code, 0, main.output);

    const env = j.exported();
    const rootCert = join(j.env.RUNNER_TEMP, `hoop-ca-${j.outputs()['credential-id']}.pem`);
    assert.equal(env.PGSSLMODE, 'verify-full');
    assert.equal(env.PGSSLROOTCERT, rootCert);
    assert.equal(readFileSync(rootCert, 'utf8').trim(), readFileSync(certs.ca, 'utf8').trim());
    assert.match(env.DATABASE_URL, /\?sslmode=verify-full&sslrootcert=%2F/);
    const [password, apiUrl, revokeToken, exportedUrl, ...more] = credentialMasks(main.stdout);
    assert.equal(password, env.PGPASSWORD);
    assert.match(apiUrl, /\?sslmode=require$/);
    assert.equal(revokeToken, j.state().revoke_token);
    assert.equal(exportedUrl, env.DATABASE_URL);
    assert.deepEqual(more, []);

    const psql = await j.psql(`select count(*) from ${TABLE}`);
    assert.equal(psql.code, 0, psql.output);
    assert.equal(psql.stdout.trim(), '3');
    // The URL alone carries verify-full and the CA file.
    const viaUrl = await j.psql(`select count(*) from ${TABLE}`, { url: env.DATABASE_URL });
    assert.equal(viaUrl.code, 0, viaUrl.output);

    const post = await j.post();
    assert.equal(post.code, 0, post.output);
    assert.match(post.stdout, /revoked credential/);
    assert.equal(await credentialState(j.state().credential_id), 'revoked');
  });

  it('says to pass ca-cert when hoop presents a certificate the runner does not trust', async () => {
    const api = `https://127.0.0.1:${proxy.address().port}`;
    const j = job({ inputs: inputs({ url: api }) });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    assert.match(main.stdout, /::error::TLS to hoop at https:\/\/127\.0\.0\.1:\d+ failed/);
    assert.match(main.stdout, /ca-cert input/);
    assert.deepEqual(j.state(), {});
  });

  it('says which key size Node refuses when hoop presents a weak certificate', async () => {
    const api = `https://127.0.0.1:${weakProxy.address().port}`;
    const j = job({ inputs: inputs({ url: api, 'ca-cert': readFileSync(certs.ca, 'utf8') }) });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    assert.match(main.stdout, /::error::TLS to hoop at https:\/\/127\.0\.0\.1:\d+ failed \(.*certificate key too weak/);
    assert.match(main.stdout, /at least 2048 bits/);
    assert.deepEqual(j.state(), {});
  });

  it('export-env: false with output-credentials: true sets outputs only', async () => {
    const j = job({ inputs: inputs({ 'export-env': 'false', 'output-credentials': 'true' }) });
    const main = await j.main();
    assert.equal(main.code, 0, main.output);
    assert.deepEqual(j.exported(), {});
    const url = j.outputs()['database-url'];
    assert.match(url, /^postgres:\/\/run-[^:@]+:[A-Za-z0-9_-]{43}@/);
    assertMaskedFirst(main, url);
    const psql = await j.psql('select 1', { url });
    assert.equal(psql.code, 0, psql.output);
    assert.equal((await j.post()).code, 0);
    assert.equal(await credentialState(j.state().credential_id), 'revoked');
  });

  it('export-env: false without output-credentials fails before asking for a credential', async () => {
    const minted = issuer.minted.length;
    const j = job({ inputs: inputs({ 'export-env': 'false' }) });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    assert.match(main.stdout, /::error::With export-env: false and output-credentials: false no later step gets the password/);
    assert.match(main.stdout, /output-credentials: true/);
    assert.equal(issuer.minted.length, minted, 'an id token was requested');
    assert.deepEqual(j.state(), {});
    assert.deepEqual(j.outputs(), {});
  });

  it('rejects an output-credentials value that is not a boolean', async () => {
    const j = job({ inputs: inputs({ 'output-credentials': 'yes' }) });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    assert.match(main.stdout, /::error::Input output-credentials must be true or false, not "yes"/);
    assert.deepEqual(j.state(), {});
  });

  it('says when the ca-cert path does not exist, or holds no certificate', async () => {
    const missing = job({ inputs: inputs({ 'ca-cert': '/nonexistent/hoop-ca.pem' }) });
    const m = await missing.main();
    assert.equal(m.code, 1, m.output);
    assert.match(m.stdout, /::error::ca-cert: no file \/nonexistent\/hoop-ca\.pem on the runner/);
    const notPem = job({ inputs: inputs({ 'ca-cert': fileURLToPath(import.meta.url) }) });
    const n = await notPem.main();
    assert.equal(n.code, 1, n.output);
    assert.match(n.stdout, /::error::ca-cert: .* holds no PEM certificate/);
    assert.deepEqual(missing.state(), {});
  });

  it('fails with the permission to add when the job has no id-token: write', async () => {
    const j = job({ inputs: inputs(), idToken: false });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    assert.match(main.stdout, /::error::.*ACTIONS_ID_TOKEN_REQUEST_URL is not set/);
    assert.match(main.stdout, /permissions: id-token: write/);
    assert.deepEqual(j.state(), {});
    assert.deepEqual(j.outputs(), {});

    // post of a job that got no credential has nothing to do, and says so.
    const post = await j.post();
    assert.equal(post.code, 0, post.output);
    assert.match(post.stdout, /nothing to revoke/);
  });

  it('names the audience to request when hoop expects another one', async () => {
    const j = job({ inputs: inputs({ audience: 'sts.amazonaws.com' }) });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    assert.match(main.stdout, /::error::hoop refused \(HTTP 401\) audience_mismatch/);
    assert.ok(main.stdout.includes(`"${AUDIENCE}"`), main.stdout);
    assert.match(main.stdout, /requested a token for audience "sts\.amazonaws\.com"/);
    assertNoToken(main.output);
  });

  it('names the URL when hoop cannot be reached', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const j = job({ inputs: inputs({ url: down }) });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    assert.ok(main.stdout.includes(`::error::Cannot reach hoop at ${down} (connect ECONNREFUSED`), main.stdout);
    assert.match(main.stdout, /Check the url input and that this runner can reach it/);
    // A connection refused may be a restart: tried 4 times, each with a fresh token.
    assert.match(main.stdout, /^hoop: attempt 4 of 4 after ECONNREFUSED/m);
  });

  it('prints the checked claims, never the token, when no trust rule matches', async () => {
    const j = job({ inputs: inputs(), claims: { repository_id: '666', repository: 'evil/payments' } });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    assert.match(main.stdout, /::error::hoop refused \(HTTP 403\) no_matching_trust_rule/);
    // Workflow commands carry newlines as %0A.
    const message = main.stdout.replace(/%0A/g, '\n');
    assert.match(message, /^ {2}repository_id: "666"$/m);
    assert.match(message, /^ {2}repository: "evil\/payments"$/m);
    assert.match(message, /^ {2}ref: "refs\/heads\/main"$/m);
    assert.match(message, /^ {2}aud: "hoop"$/m);
    assert.match(message, /^ {2}environment: \(absent\)$/m);
    // The claims rules pin beyond the classic ones.
    assert.match(message, /^ {2}job_workflow_ref: "acme\/payments\/\.github\/workflows\/deploy\.yml@refs\/heads\/main"$/m);
    assert.match(message, /^ {2}workflow_ref: "acme\/payments\/\.github\/workflows\/deploy\.yml@refs\/heads\/main"$/m);
    assert.match(message, /^ {2}repository_owner: "acme"$/m);
    assert.match(message, /^ {2}ref_type: "branch"$/m);
    assert.match(message, /^ {2}runner_environment: "github-hosted"$/m);
    assert.match(message, /Ask hoop's operators for a rule that matches them/);
    // A refusal is never retried: hoop consumed the token, and the answer would not change.
    assert.ok(!main.stdout.includes('hoop: attempt 2'), main.stdout);
    assertNoToken(main.output);
    const token = issuer.minted.at(-1);
    assert.ok(!unmasked(main.output).includes(token.split('.')[1]), 'the token payload was printed as is');
  });

  it('sends the role input, and fails when the rule grants another role', async () => {
    const granted = job({ inputs: inputs({ role: db.reader }) });
    const ok = await granted.main();
    assert.equal(ok.code, 0, ok.output);
    assert.equal((await granted.post()).code, 0);

    const j = job({ inputs: inputs({ role: 'ci_migrator' }) });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    assert.match(main.stdout, /::error::hoop refused \(HTTP 403\) role_not_granted: /);
    assert.match(main.stdout, /The role input \("ci_migrator"\) is not the role the matching trust rule grants/);
    assert.deepEqual(j.state(), {});
  });

  it('post revokes with a fresh id token when main got no revoke token (an older hoop)', async () => {
    const j = job({ inputs: inputs() });
    assert.equal((await j.main()).code, 0);
    const id = j.state().credential_id;
    const minted = issuer.minted.length;
    const post = await j.post({ without: ['revoke_token'] });
    assert.equal(post.code, 0, post.output);
    assert.match(post.stdout, new RegExp(`^hoop: revoked credential ${id}`, 'm'));
    assert.equal(issuer.minted.length, minted + 1, 'post did not request an id token');
    assert.deepEqual(credentialMasks(post.stdout), []);
    assert.equal(await credentialState(id), 'revoked');
  });

  it('post warns but does not fail when it cannot revoke', async () => {
    const j = job({ inputs: inputs() });
    assert.equal((await j.main()).code, 0);
    const id = j.state().credential_id;
    j.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'expired-request-token';
    // Without a revoke token (an older hoop gave none) post needs a fresh id token.
    const post = await j.post({ without: ['revoke_token'] });
    assert.equal(post.code, 0, post.output);
    assert.match(post.stdout, new RegExp(`::warning::hoop: could not revoke credential ${id}: .*HTTP 401`));
    assert.ok(post.stdout.includes(`It expires at ${j.state().expires_at} anyway.`), post.stdout);
    assert.equal(await credentialState(id), 'active');
  });

  it('post warns with one period when hoop cannot be reached', async () => {
    const j = job({ inputs: inputs() });
    assert.equal((await j.main()).code, 0);
    // The error's own advice ends a sentence; the warning adds one after it.
    j.env.INPUT_URL = 'http://127.0.0.1:9';
    const post = await j.post();
    assert.equal(post.code, 0, post.output);
    const line = post.stdout.split('\n').find((l) => l.startsWith('::warning::')) ?? '';
    assert.match(line, /could not revoke credential/, post.stdout);
    assert.ok(!line.replace(/\.\.\./g, '').includes('..'), `a doubled period: ${line}`);
  });

  it('post revokes with the revoke token even when the id token service no longer answers', async () => {
    const j = job({ inputs: inputs() });
    assert.equal((await j.main()).code, 0);
    const { credential_id: id, revoke_token: revokeToken } = j.state();
    assert.match(revokeToken, /^hoop-revoke\./);
    // The job's request token expired (a long job, a cancelled one): the revoke token still works.
    j.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'expired-request-token';
    const post = await j.post();
    assert.equal(post.code, 0, post.output);
    assert.match(post.stdout, new RegExp(`^hoop: revoked credential ${id}`, 'm'));
    assert.ok(!post.stdout.includes('::warning::'), post.stdout);
    assertMaskedFirst(post, revokeToken);
    assert.equal(await credentialState(id), 'revoked');
  });

  it('names the claims hoop did not accept, with their values, and the other checked claims', async () => {
    const j = job({ inputs: inputs(), claims: { ref: 'refs/heads/feature/x' } });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    const message = main.stdout.replace(/%0A/g, '\n');
    assert.match(message, /::error::hoop refused \(HTTP 403\) no_matching_trust_rule: /);
    // hoop's message names the claim; the action adds the claims hoop listed (error.claims).
    assert.match(message, /The claims hoop did not accept, as this job's token has them:\n {2}ref: "refs\/heads\/feature\/x"\n/);
    assert.match(message, /The other claims a trust rule can check:\n(?: {2}.*\n)*? {2}repository_id: "4711"/);
    const others = message.slice(message.indexOf('The other claims'));
    assert.ok(!/^ {2}ref: /m.test(others), 'ref is listed twice');
    assertNoToken(main.output);
  });

  it('says a pull request run is not trusted, and what to do instead', async () => {
    const j = job({ inputs: inputs(), claims: { event_name: 'pull_request' } });
    const main = await j.main();
    assert.equal(main.code, 1, main.output);
    const message = main.stdout.replace(/%0A/g, '\n');
    assert.match(message, /::error::hoop refused \(HTTP 403\) pull_request_not_allowed: /);
    assert.match(message, /^ {2}event_name: "pull_request"$/m);
    assert.match(message, /hoop does not trust runs of event "pull_request"/);
    assert.match(message, /a workflow that runs on push/);
    assert.match(message, /allow_pull_requests = true/);
    assert.ok(!message.includes('Ask hoop\'s operators for a rule that matches'), message);
    assert.ok(!main.stdout.includes('hoop: attempt 2'), main.stdout);
  });

  it('accepts gateway-url, the old name of url, with a warning to rename it', async () => {
    const j = job({ inputs: { 'gateway-url': hoop.api, connection: CONNECTION } });
    const main = await j.main();
    assert.equal(main.code, 0, main.output);
    assert.match(main.stdout, /^::warning::The gateway-url input is deprecated: rename it to url/m);
    // post uses it too, and does not warn a second time.
    const post = await j.post();
    assert.equal(post.code, 0, post.output);
    assert.match(post.stdout, /revoked credential/);
    assert.ok(!post.stdout.includes('::warning::'), post.stdout);

    const same = job({ inputs: { url: `${hoop.api}/`, 'gateway-url': hoop.api, connection: CONNECTION } });
    const both = await same.main();
    assert.equal(both.code, 0, both.output);
    assert.match(both.stdout, /^::warning::The gateway-url input is deprecated and url is set to the same value: remove gateway-url/m);
    assert.equal((await same.post()).code, 0);

    const minted = issuer.minted.length;
    const differ = job({ inputs: { url: hoop.api, 'gateway-url': 'https://old.example', connection: CONNECTION } });
    const d = await differ.main();
    assert.equal(d.code, 1, d.output);
    assert.match(d.stdout, /::error::url \(http:\/\/127\.0\.0\.1:\d+\) and gateway-url \(https:\/\/old\.example\) differ: gateway-url is the old name of url; keep only url\./);
    assert.equal(issuer.minted.length, minted);

    const none = job({ inputs: { connection: CONNECTION } });
    const n = await none.main();
    assert.equal(n.code, 1, n.output);
    assert.match(n.stdout, /::error::Input required and not supplied: url/);
  });
});
