// Later steps of a job with the drivers the docs show: psql (libpq), node-postgres, PgJDBC
// (JDBC, Flyway), psycopg and psycopg2, each reading a real row through hoop's gateway with what the
// action exported, verifying the gateway's certificate with the CA hoop handed out. hoop runs
// with its generated gateway certificate (a CA derived from its secret key): nothing of this
// test's own CA is involved.
//
// Needs what tests/setup installs: action/test/drivers/node_modules (npm ci), Debian's
// libpostgresql-jdbc-java, python3-psycopg and python3-psycopg2, a JDK (java).
//
//   HOOP_BIN=target/debug/hoop node --test action/test/*.test.mjs

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ACTION_DIR, CONNECTION, Job, TABLE, createDatabase, dropDatabase, makeCertificates, run, startHoop, startIssuer } from '../testing/harness.mjs';

const MAX_SESSIONS = 2;
const ROW = `select name from ${TABLE} where id = 2`;

let dir;
let db;
let issuer;
let hoop;
let certs;
let j; // one job, its credential shared by the drivers' steps
const jobs = [];

function job(options) {
  const k = new Job(issuer, options);
  jobs.push(k);
  return k;
}

/** `url` without its sslrootcert parameter: the same connection without the CA. */
function withoutRootCert(url) {
  return url.replace(/&sslrootcert=[^&]*/, '');
}

/** `url` with another CA than the gateway's (this test's own): verification must fail. */
function withOtherCa(url) {
  return url.replace(/&sslrootcert=[^&]*/, `&sslrootcert=${encodeURIComponent(certs.ca)}`);
}

describe('drivers in later steps', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoop-action-drivers-'));
    certs = await makeCertificates(dir);
    issuer = await startIssuer();
    db = await createDatabase();
    hoop = await startHoop({ dir, db, issuer, tlsFiles: certs, gatewayTls: 'generated', maxSessions: MAX_SESSIONS });
    j = job({ inputs: { url: hoop.api, connection: CONNECTION } });
    const main = await j.main();
    assert.equal(main.code, 0, main.output);
  });

  after(async () => {
    if (j) await j.post();
    await hoop?.stop();
    await issuer?.close();
    if (db) await dropDatabase(db);
    for (const k of jobs) k.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("writes hoop's CA for the gateway and exports verify-full with it", () => {
    const env = j.exported();
    const out = j.outputs();
    const file = join(j.env.RUNNER_TEMP, `hoop-ca-${out['credential-id']}.pem`);
    assert.equal(out['ca-cert-file'], file);
    assert.equal(env.PGSSLROOTCERT, file);
    assert.equal(env.PGSSLMODE, 'verify-full');
    const pem = readFileSync(file, 'utf8');
    assert.match(pem, /^-----BEGIN CERTIFICATE-----/);
    // hoop's own CA, not one this test made.
    assert.notEqual(pem.trim(), readFileSync(certs.ca, 'utf8').trim());
    assert.equal(out['max-sessions'], String(MAX_SESSIONS));
    assert.ok(!out['jdbc-url'].includes(env.PGPASSWORD) && !out['jdbc-url'].includes(env.PGUSER));
  });

  it('psql (libpq) reads a row with the exported variables, and with DATABASE_URL alone', async () => {
    const viaEnv = await j.psql(ROW);
    assert.equal(viaEnv.code, 0, viaEnv.output);
    assert.equal(viaEnv.stdout.trim(), 'gear');
    const viaUrl = await j.psql(ROW, { url: j.exported().DATABASE_URL });
    assert.equal(viaUrl.code, 0, viaUrl.output);
    assert.equal(viaUrl.stdout.trim(), 'gear');
  });

  it('node-postgres reads a row with DATABASE_URL alone, and verifies the gateway', async () => {
    const ok = await j.nodePg(ROW);
    assert.equal(ok.code, 0, ok.output);
    assert.equal(ok.stdout.trim(), 'gear');
    // The same URL without the CA: node-postgres refuses the gateway's certificate.
    const noCa = await j.nodePg(ROW, { url: withoutRootCert(j.exported().DATABASE_URL) });
    assert.notEqual(noCa.code, 0, noCa.output);
    assert.match(noCa.stderr, /unable to verify the first certificate|self[- ]signed certificate/i);
    const otherCa = await j.nodePg(ROW, { url: withOtherCa(j.exported().DATABASE_URL) });
    assert.notEqual(otherCa.code, 0, otherCa.output);
    assert.match(otherCa.stderr, /unable to verify the first certificate|self[- ]signed certificate/i);
  });

  it('PgJDBC reads a row with the jdbc-url output and PGUSER/PGPASSWORD, and verifies the gateway', async () => {
    const url = j.outputs()['jdbc-url'];
    assert.match(url, /^jdbc:postgresql:\/\/127\.0\.0\.1:\d+\/hoop_action_[0-9a-f]+\?sslmode=verify-full&sslrootcert=%2F/);
    const ok = await j.jdbc(url, ROW);
    assert.equal(ok.code, 0, ok.output);
    assert.equal(ok.stdout.trim(), 'gear');
    // Without the CA (PgJDBC then looks for ~/.postgresql/root.crt, which this runner has not).
    const noCa = await j.jdbc(withoutRootCert(url), ROW);
    assert.notEqual(noCa.code, 0, noCa.output);
    assert.match(noCa.stderr, /pgjdbc: Could not open SSL root certificate file .*root\.crt/);
    const otherCa = await j.jdbc(withOtherCa(url), ROW);
    assert.notEqual(otherCa.code, 0, otherCa.output);
    assert.match(otherCa.stderr, /pgjdbc: .*(PKIX|certification path|SSL error)/i);
  });

  for (const driver of ['psycopg', 'psycopg2']) {
    it(`${driver} reads a row with DATABASE_URL alone, and verifies the gateway`, async () => {
      const ok = await j.psycopg(driver, ROW);
      assert.equal(ok.code, 0, ok.output);
      assert.equal(ok.stdout.trim(), 'gear');
      const noCa = await j.psycopg(driver, ROW, { url: withoutRootCert(j.exported().DATABASE_URL) });
      assert.notEqual(noCa.code, 0, noCa.output);
      assert.match(noCa.stderr, /root certificate file .* does not exist/);
      const otherCa = await j.psycopg(driver, ROW, { url: withOtherCa(j.exported().DATABASE_URL) });
      assert.notEqual(otherCa.code, 0, otherCa.output);
      assert.match(otherCa.stderr, /certificate verify failed/);
    });
  }

  it(`a pool of max-sessions connections works; one more is refused`, async () => {
    const max = Number(j.outputs()['max-sessions']);
    // node-postgres Pool with `max` at the limit: max concurrent sessions succeed.
    const script = `
      const { Pool } = require('pg');
      const size = Number(process.argv[1]);
      const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: size });
      (async () => {
        const clients = [];
        try {
          for (let i = 0; i < size; i++) clients.push(await pool.connect());
          const rows = await Promise.all(clients.map((c) => c.query('select 1 as one')));
          console.log(rows.length);
        } catch (e) {
          console.error('node-postgres: ' + e.message);
          process.exitCode = 1;
        } finally {
          clients.forEach((c) => c.release());
          await pool.end();
        }
      })();`;
    const env = { PATH: process.env.PATH, HOME: j.dir, DATABASE_URL: j.exported().DATABASE_URL, NODE_PATH: join(ACTION_DIR, 'test', 'drivers', 'node_modules') };
    const fits = await run(process.execPath, ['-e', script, String(max)], { env });
    assert.equal(fits.code, 0, fits.output);
    assert.equal(fits.stdout.trim(), String(max));
    const over = await run(process.execPath, ['-e', script, String(max + 1)], { env });
    assert.notEqual(over.code, 0, over.output);
    // What the docs quote for a pool larger than max-sessions.
    assert.match(over.stderr, new RegExp(`node-postgres: credential run-[^ ]+ already has its maximum of ${max} sessions`));
  });
});
