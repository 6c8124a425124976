// What stands between a runner and hoop: egress proxies (CONNECT and absolute-form, with
// credentials, NO_PROXY), an ingress that fails for a while (retries with fresh id tokens), and
// a url that points at something else than hoop's API (a database port, /v1, another server).
//
//   HOOP_BIN=target/debug/hoop node --test action/test/*.test.mjs

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  CONNECTION,
  Job,
  PROXIED_HOST,
  PROXIED_TOKEN_HOST,
  adminSql,
  createDatabase,
  dropDatabase,
  flakyFront,
  makeCertificates,
  credentialMasks,
  fakeHoop,
  masks,
  notHoop,
  startHoop,
  startIssuer,
  startProxy,
  tlsProxy,
  unmasked,
} from '../testing/harness.mjs';
import { retryAfterMs } from '../lib/retry.js';
import { oneLine } from '../lib/runner.js';

let dir;
let db;
let issuer;
let hoop;
let certs;
let front; // TLS in front of hoop's API, for a certificate that names PROXIED_HOST
const servers = [];
const jobs = [];

function job(options) {
  const j = new Job(issuer, options);
  jobs.push(j);
  return j;
}

function inputs(extra = {}) {
  return { url: hoop.api, connection: CONNECTION, ...extra };
}

/**
 * The action's main step through an ingress that fails the first `failures` requests
 * (`flakyFront`); asserts it succeeded after that many retries.
 */
async function throughFlakyIngress(options) {
  const ingress = await serve(flakyFront(Number(new URL(hoop.api).port), options));
  const minted = issuer.minted.length;
  const j = job({ inputs: inputs({ url: ingress.url }) });
  const main = await j.main();
  assert.equal(main.code, 0, main.output);
  const lines = attempts(main.stdout);
  assert.equal(lines.length, options.failures, main.stdout);
  return { ingress, minted, j, main, lines };
}

async function serve(started) {
  const server = await started;
  servers.push(server);
  return server;
}

async function credentialState(id) {
  return adminSql(db.name, `SELECT state FROM hoop_credentials WHERE id = '${id}'`);
}

function jti(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti;
}

/** The `hoop: attempt N of M after …` lines of a step. */
function attempts(stdout) {
  return stdout.split('\n').filter((l) => /^hoop: attempt \d+ of \d+ after /.test(l));
}

/** Neither a minted token nor the given secrets appear in `output`. */
function assertNoSecrets(printed, ...secrets) {
  const output = unmasked(printed);
  for (const token of issuer.minted) assert.ok(!output.includes(token.split('.')[2]), 'a token signature was printed');
  for (const secret of secrets) assert.ok(!output.includes(secret), `${secret} was printed`);
}

describe('networks between the runner and hoop', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoop-action-net-'));
    certs = await makeCertificates(dir);
    issuer = await startIssuer();
    db = await createDatabase();
    // The gateway's own certificate without tls_ca: hoop hands out no CA (ca_cert).
    // A second connection whose rule grants a role the database does not have.
    const extraConfig = `
[[connections]]
name = "ghost"
kind = "postgres"
admin_url = "postgres://postgres@127.0.0.1:5432/${db.name}"
database = "${db.name}"
default_role = "${db.reader}_missing"

[[trust]]
name = "ghost-main"
issuer = "github"
claims = { repository_id = "4711", ref = "refs/heads/main" }
connections = ["ghost"]
`;
    hoop = await startHoop({ dir, db, issuer, tlsFiles: certs, gatewayTls: 'files', extraConfig });
    front = await serve(tlsProxy(Number(new URL(hoop.api).port), certs));
  });

  after(async () => {
    await hoop?.stop();
    await issuer?.close();
    for (const server of servers) {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    }
    if (db) await dropDatabase(db);
    for (const j of jobs) j.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('a hoop that hands out no CA', () => {
    it('exports sslmode require and no PGSSLROOTCERT when no CA is known', async () => {
      const j = job({ inputs: inputs() });
      const main = await j.main();
      assert.equal(main.code, 0, main.output);
      const env = j.exported();
      const out = j.outputs();
      assert.equal(env.PGSSLMODE, 'require');
      assert.ok(!('PGSSLROOTCERT' in env), JSON.stringify(Object.keys(env)));
      assert.match(env.DATABASE_URL, /\?sslmode=require$/);
      assert.equal(out['ca-cert-file'], '');
      assert.equal(out['jdbc-url'], `jdbc:postgresql://127.0.0.1:${hoop.gatewayPort}/${db.name}?sslmode=require`);
      assert.match(main.stdout, /\(sslmode require, trust rule payments-main, at most 4 sessions at once\)/);
      const psql = await j.psql('select 1');
      assert.equal(psql.code, 0, psql.output);
      assert.equal((await j.post()).code, 0);
    });

    it('uses the ca-cert input for the gateway too, when hoop hands out no CA', async () => {
      const api = `https://127.0.0.1:${front.address().port}`;
      const j = job({ inputs: inputs({ url: api, 'ca-cert': readFileSync(certs.ca, 'utf8') }) });
      const main = await j.main();
      assert.equal(main.code, 0, main.output);
      const env = j.exported();
      assert.equal(env.PGSSLMODE, 'verify-full');
      assert.equal(readFileSync(env.PGSSLROOTCERT, 'utf8').trim(), readFileSync(certs.ca, 'utf8').trim());
      assert.equal(j.outputs()['ca-cert-file'], env.PGSSLROOTCERT);
      const psql = await j.psql('select count(*) from widgets', { url: env.DATABASE_URL });
      assert.equal(psql.code, 0, psql.output);
      assert.equal(psql.stdout.trim(), '3');
      assert.equal((await j.post()).code, 0);
    });
  });

  describe('egress proxy', () => {
    it('reaches hoop and the id token service only through the proxy, with its credentials', async () => {
      const proxy = await serve(startProxy({ credentials: 'ci-runner:s3cr%t p@ss' }));
      const proxyUrl = `http://ci-runner:${encodeURIComponent('s3cr%t p@ss')}@127.0.0.1:${proxy.address().port}`;
      // Both names resolve only at the proxy: a direct connection cannot succeed.
      const api = `https://${PROXIED_HOST}:${front.address().port}`;
      const j = job({
        inputs: inputs({ url: api, 'ca-cert': readFileSync(certs.ca, 'utf8') }),
        tokenHost: PROXIED_TOKEN_HOST,
        env: { https_proxy: proxyUrl, http_proxy: proxyUrl },
      });
      const sni = front.servernames.length;
      const main = await j.main();
      assert.equal(main.code, 0, main.output);
      assert.equal(main.stderr, '');
      // hoop through a CONNECT tunnel, TLS inside it with SNI = hoop's host name; the token
      // service (http://) as an absolute-form request.
      assert.deepEqual(proxy.seen.connects, [`${PROXIED_HOST}:${front.address().port}`]);
      assert.deepEqual(front.servernames.slice(sni), [PROXIED_HOST]);
      assert.equal(proxy.seen.forwarded.length, 1);
      assert.match(proxy.seen.forwarded[0], new RegExp(`^http://${PROXIED_TOKEN_HOST}:\\d+/token\\?api-version=2\\.0&audience=hoop$`));
      const basic = `Basic ${Buffer.from('ci-runner:s3cr%t p@ss').toString('base64')}`;
      assert.deepEqual(proxy.seen.authorizations, [basic, basic]);
      assertNoSecrets(main.output, 's3cr%t', encodeURIComponent('s3cr%t p@ss'), basic.slice(6));

      // A later step reaches the gateway directly (the proxy is for HTTP).
      const psql = await j.psql('select count(*) from widgets');
      assert.equal(psql.code, 0, psql.output);
      assert.equal(psql.stdout.trim(), '3');

      // post goes through the proxy as well.
      const post = await j.post();
      assert.equal(post.code, 0, post.output);
      assert.match(post.stdout, /revoked credential/);
      assert.equal(proxy.seen.connects.length, 2);
      assert.equal(await credentialState(j.state().credential_id), 'revoked');
    });

    it('no_proxy sends hoop and the token service past the proxy; lowercase variables win', async () => {
      const refusing = await serve(startProxy({ refuse: 502 }));
      const good = await serve(startProxy());
      const j = job({
        inputs: inputs(),
        env: {
          HTTP_PROXY: refusing.url,
          http_proxy: good.url,
          // Suffix, host:port, an IP range and a name: 127.0.0.1 is in 127.0.0.0/8.
          no_proxy: '.example.com, other.test:8080, 127.0.0.0/8',
          NO_PROXY: '',
        },
      });
      const main = await j.main();
      assert.equal(main.code, 0, main.output);
      assert.deepEqual(refusing.seen.forwarded, []);
      assert.deepEqual(good.seen.forwarded, []);
      assert.equal((await j.post()).code, 0);

      // Without the bypass, the lowercase proxy is the one used (the uppercase one refuses all).
      const k = job({ inputs: inputs(), env: { HTTP_PROXY: refusing.url, http_proxy: good.url, no_proxy: 'example.com' } });
      const viaGood = await k.main();
      assert.equal(viaGood.code, 0, viaGood.output);
      assert.equal(good.seen.forwarded.length, 2, 'the token request and the exchange');
      assert.deepEqual(refusing.seen.forwarded, []);
      assert.equal((await k.post()).code, 0);
    });

    it('says the proxy wants credentials (HTTP 407), naming it without them, and does not retry', async () => {
      const proxy = await serve(startProxy({ credentials: 'ci-runner:right' }));
      const proxyUrl = `http://ci-runner:wrong-secret@127.0.0.1:${proxy.address().port}`;
      const api = `https://${PROXIED_HOST}:${front.address().port}`;
      const j = job({ inputs: inputs({ url: api, 'ca-cert': readFileSync(certs.ca, 'utf8') }), env: { HTTPS_PROXY: proxyUrl } });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      assert.ok(
        main.stdout.includes(
          `::error::Cannot reach hoop at ${api} through proxy http://127.0.0.1:${proxy.address().port} ` +
            `(the proxy answered HTTP 407 Proxy Authentication Required to CONNECT ${PROXIED_HOST}:${front.address().port}). ` +
            'The proxy wants credentials it did not get or did not accept: put them in the proxy URL',
        ),
        main.stdout,
      );
      assert.deepEqual(attempts(main.stdout), []);
      assert.equal(proxy.seen.connects.length, 1);
      assertNoSecrets(main.output, 'wrong-secret');
      assert.deepEqual(j.state(), {});
    });

    it('says the proxy could not reach hoop (HTTP 502) after retrying', async () => {
      const proxy = await serve(startProxy({ refuse: 502 }));
      const api = `https://${PROXIED_HOST}:${front.address().port}`;
      const j = job({ inputs: inputs({ url: api }), env: { https_proxy: proxy.url } });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      assert.ok(
        main.stdout.includes(`::error::Cannot reach hoop at ${api} through proxy ${proxy.url} (the proxy answered HTTP 502 Bad Gateway to CONNECT`),
        main.stdout,
      );
      assert.match(main.stdout, /Ask the proxy's operators to allow hoop\.proxied\.test:\d+, or add it to no_proxy/);
      assert.equal(attempts(main.stdout).length, 3);
      assert.equal(proxy.seen.connects.length, 4);
    });

    it("names the proxy when the runner's id token service cannot be reached through it", async () => {
      const proxy = await serve(startProxy({ credentials: 'a:b' }));
      const j = job({ inputs: inputs(), env: { http_proxy: `http://127.0.0.1:${proxy.address().port}` } });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      // An http:// target through a proxy: the 407 arrives as the answer to the request itself.
      assert.match(main.stdout, new RegExp(`::error::The runner's id token service answered HTTP 407`));
      assert.deepEqual(j.state(), {});

      const down = job({ inputs: inputs(), env: { http_proxy: 'http://127.0.0.1:9' } });
      const d = await down.main();
      assert.equal(d.code, 1, d.output);
      assert.match(d.stdout, /::error::Cannot reach the runner's id token service \(http:\/\/127\.0\.0\.1:\d+\) through proxy http:\/\/127\.0\.0\.1:9: the proxy does not answer: connect ECONNREFUSED 127\.0\.0\.1:9\. Check http_proxy, or add the service's host to no_proxy/);
    });

    it('says when the proxy itself does not answer', async () => {
      const api = `https://${PROXIED_HOST}:${front.address().port}`;
      const j = job({ inputs: inputs({ url: api }), env: { https_proxy: 'http://user:pw-secret@127.0.0.1:9' } });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      assert.ok(
        main.stdout.includes(
          `::error::Cannot reach hoop at ${api} through proxy http://127.0.0.1:9 (the proxy does not answer: connect ECONNREFUSED 127.0.0.1:9). Check https_proxy`,
        ),
        main.stdout,
      );
      assertNoSecrets(main.output, 'pw-secret');
    });

    it('rejects a proxy URL it cannot use, saying which variable', async () => {
      const j = job({ inputs: inputs(), env: { https_proxy: 'socks5://127.0.0.1:1080', http_proxy: 'socks5://127.0.0.1:1080' } });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      assert.match(main.stdout, /::error::http_proxy must be an http:\/\/ proxy URL \(got socks5:\/\/127\.0\.0\.1:1080\)/);
    });
  });

  describe('retries', () => {
    it('retries an ingress 503 with a fresh id token each time, and says so', async () => {
      const { ingress, minted, j, main, lines } = await throughFlakyIngress({ mode: '503', failures: 2 });
      assert.match(lines[0], /^hoop: attempt 2 of 4 after HTTP 503 from test-ingress; waiting \d+\.\d s$/);
      assert.match(lines[1], /^hoop: attempt 3 of 4 after HTTP 503 from test-ingress; waiting/);
      // Three exchanges, three distinct tokens (a token is single use at hoop), all from the issuer.
      const tokens = issuer.minted.slice(minted);
      assert.equal(tokens.length, 3);
      assert.equal(new Set(tokens.map(jti)).size, 3);
      assert.deepEqual(ingress.seen, tokens.map((t) => `Bearer ${t}`));
      assertNoSecrets(main.output);
      assert.equal(credentialMasks(main.stdout)[0], j.exported().PGPASSWORD);

      // post retries too.
      ingress.set(1);
      const post = await j.post();
      assert.equal(post.code, 0, post.output);
      assert.equal(attempts(post.stdout).length, 1, post.stdout);
      assert.match(post.stdout, /revoked credential/);
      assert.equal(await credentialState(j.state().credential_id), 'revoked');
    });

    it("waits as long as the ingress's Retry-After asks, up to 30 s", async () => {
      const { lines } = await throughFlakyIngress({ mode: '503', failures: 1, retryAfter: '2' });
      assert.match(lines[0], /^hoop: attempt 2 of 4 after HTTP 503 from test-ingress; waiting 2\.0 s$/);
    });

    it('reads Retry-After as seconds or a date, capped at 30 s', () => {
      const now = Date.parse('2026-12-06T12:00:00Z');
      assert.equal(retryAfterMs('3', now), 3000);
      assert.equal(retryAfterMs('Sun, 06 Dec 2026 12:00:05 GMT', now), 5000);
      assert.equal(retryAfterMs('3600', now), 30_000);
      for (const junk of [undefined, '', 'soon', '-1', 'Sun, 06 Dec 2026 11:00:00 GMT']) {
        assert.equal(retryAfterMs(junk, now), 0, String(junk));
      }
    });

    it('retries connections reset before hoop answered', async () => {
      const { minted, j, lines } = await throughFlakyIngress({ mode: 'reset', failures: 2 });
      assert.match(lines[0], /^hoop: attempt 2 of 4 after ECONNRESET/);
      assert.equal(new Set(issuer.minted.slice(minted).map(jti)).size, 3);
      assert.equal((await j.post()).code, 0);
    });

    it('gives up after 4 attempts, naming what answered', async () => {
      const ingress = await serve(flakyFront(Number(new URL(hoop.api).port), { mode: '503', failures: 100 }));
      const j = job({ inputs: inputs({ url: ingress.url }) });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      assert.equal(attempts(main.stdout).length, 3);
      assert.equal(ingress.seen.length, 4);
      assert.ok(
        main.stdout.includes(
          `::error::${ingress.url} answered HTTP 503 from test-ingress, not from hoop's API itself: the load balancer or proxy in front of hoop could not serve it; check that hoop runs and that url routes to it (body: <html>`,
        ),
        main.stdout,
      );
      assert.deepEqual(j.state(), {});
    });

    it('does not retry upstream_role_missing, and says an operator must create the role', async () => {
      const minted = issuer.minted.length;
      const j = job({ inputs: inputs({ connection: 'ghost' }) });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      assert.match(main.stdout, /::error::hoop could not serve the request \(HTTP 503\) upstream_role_missing: .*_missing/);
      assert.match(main.stdout, /hoop's operators must create the role named above/);
      assert.deepEqual(attempts(main.stdout), []);
      assert.equal(issuer.minted.length, minted + 1);
    });

    it('does not retry a refusal (HTTP 4xx)', async () => {
      const ingress = await serve(flakyFront(Number(new URL(hoop.api).port)));
      const minted = issuer.minted.length;
      const j = job({ inputs: inputs({ url: ingress.url }), claims: { repository_id: '666' } });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      assert.match(main.stdout, /::error::hoop refused \(HTTP 403\) no_matching_trust_rule/);
      assert.deepEqual(attempts(main.stdout), []);
      assert.equal(ingress.seen.length, 1);
      assert.equal(issuer.minted.length, minted + 1);
    });
  });

  describe('a server that answers for hoop with values it must not be trusted with', () => {
    const good = () => ({
      credential_id: '8b0f6c0e-5c1d-4c36-9d0e-0d8c3f1f2b7a',
      username: 'run-1-1-abcdef',
      password: 'p'.repeat(43),
      host: 'db.example.com',
      port: 6432,
      database: 'payments',
      sslmode: 'require',
      database_url: `postgres://run-1-1-abcdef:${'p'.repeat(43)}@db.example.com:6432/payments?sslmode=require`,
      expires_at: '2026-12-06T12:00:00+00:00',
      trust_rule: 'payments-main',
      revoke_token: `hoop-revoke.${'r'.repeat(43)}`,
    });
    const hostile = [
      ['credential_id', '/../../../../tmp/escaped'],
      ['credential_id', '8b0f6c0e-5c1d-4c36-9d0e-0d8c3f1f2b7a\n::stop-commands::x'],
      ['username', 'run\n::set-output name=x::forged'],
      ['host', 'db\r::warning::forged'],
      ['port', '6432;touch /tmp/x'],
      ['sslmode', 'require\n::error::x'],
      ['expires_at', 'soon\n::add-mask::x'],
      ['trust_rule', 'rule\n::error title=x::forged'],
      ['revoke_token', 'hoop-revoke.x\nX-Injected: yes'],
      ['ca_cert', 'ANY CONTENT\nexport EVIL=1\n-----BEGIN CERTIFICATE-----'],
    ];
    for (const [field, value] of hostile) {
      it(`refuses a ${field} like ${JSON.stringify(value).slice(0, 40)}, exporting and writing nothing`, async () => {
        const fake = await serve(fakeHoop(() => ({ status: 201, body: { ...good(), [field]: value } })));
        const j = job({ inputs: inputs({ url: fake.url }) });
        const main = await j.main();
        assert.equal(main.code, 1, main.output);
        assert.match(main.stdout, new RegExp(`::error::hoop's answer has an invalid ${field}`));
        assert.deepEqual(j.exported(), {});
        assert.deepEqual(j.outputs(), {});
        // No line of its own for anything the server sent.
        assert.ok(!/^::(?!add-mask|error|group|endgroup)/m.test(main.stdout), main.stdout);
      });
    }

    it('shows a server-chosen value on one line in the log', () => {
      assert.equal(oneLine('a\r\n::stop-commands::x\u2028y'), 'a\\u000d\\u000a::stop-commands::x\\u2028y');
    });

    it("keeps the id token and proxy credentials out of an echoing server's error page", async () => {
      const fake = await serve(
        fakeHoop((req) => ({
          status: 400,
          body: `ERROR echo: authorization=${req.headers.authorization} proxy=${req.headers['proxy-authorization']}`,
        })),
      );
      const j = job({ inputs: inputs({ url: fake.url }) });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      assert.match(main.stdout, /authorization=Bearer \*\*\*/);
      // The token was masked before the request, and no part of it is printed unmasked.
      assert.match(masks(main.stdout)[0], /^eyJ/);
      assertNoSecrets(main.output);
    });
  });

  describe('a url that is not hoop\'s API', () => {
    it("says a database port is not hoop's API (Postgres, and hoop's own gateway)", async () => {
      for (const url of ['http://127.0.0.1:5432', `https://127.0.0.1:${hoop.gatewayPort}`, `http://127.0.0.1:${hoop.gatewayPort}`]) {
        const j = job({ inputs: inputs({ url }) });
        const main = await j.main();
        assert.equal(main.code, 1, main.output);
        assert.ok(
          main.stdout.includes(
            `::error::${url} answered like a database, not hoop's API: url is the API's address (api_listen), not the gateway's host:port.`,
          ),
          `${url}: ${main.stdout}`,
        );
        assert.deepEqual(attempts(main.stdout), [], url);
      }
    });

    it('says to drop /v1 from url', async () => {
      for (const suffix of ['/v1', '/v1/']) {
        const j = job({ inputs: inputs({ url: `${hoop.api}${suffix}` }) });
        const main = await j.main();
        assert.equal(main.code, 1, main.output);
        assert.ok(
          main.stdout.includes(`::error::${hoop.api}/v1 ends with the API version: drop /v1 from url (the action adds /v1/exchange itself), e.g. ${hoop.api}.`),
          main.stdout,
        );
      }
    });

    it("says another web server is not hoop's API, naming it", async () => {
      const other = await serve(notHoop());
      const j = job({ inputs: inputs({ url: other.url }) });
      const main = await j.main();
      assert.equal(main.code, 1, main.output);
      assert.ok(
        main.stdout.includes(`::error::${other.url} is not hoop's API (HTTP 404 from nginx-test): check url, the base URL of hoop's API`),
        main.stdout,
      );
      assert.deepEqual(attempts(main.stdout), []);
    });

    it('marks every answer of hoop with x-hoop-api: 1', async () => {
      for (const [method, path] of [['GET', '/healthz'], ['POST', '/v1/exchange'], ['GET', '/v1/v1/exchange'], ['GET', '/nothing']]) {
        const response = await fetch(`${hoop.api}${path}`, { method });
        assert.equal(response.headers.get('x-hoop-api'), '1', `${method} ${path}`);
      }
    });
  });
});
