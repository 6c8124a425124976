// Which proxy a request takes, from the variables curl and the Actions runner read.
//
//   node --test action/test/proxy.test.mjs

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { bypassesProxy, proxyFor } from '../lib/proxy.js';

const at = (url, env) => proxyFor(new URL(url), env);
const bypass = (url, noProxy) => bypassesProxy(new URL(url), { no_proxy: noProxy });

describe('proxyFor', () => {
  it('takes https_proxy for https:// and http_proxy for http://', () => {
    const env = { https_proxy: 'http://secure:3128', http_proxy: 'http://plain:3128' };
    assert.equal(at('https://hoop.internal', env).display, 'http://secure:3128');
    assert.equal(at('http://hoop.internal', env).display, 'http://plain:3128');
    assert.equal(at('https://hoop.internal', {}), null);
  });

  it('prefers the lowercase variable, and reads the uppercase one alone', () => {
    assert.equal(at('https://h', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' }).display, 'http://lower:1');
    assert.equal(at('https://h', { HTTPS_PROXY: 'http://upper:2' }).display, 'http://upper:2');
    assert.equal(at('http://h', { HTTP_PROXY: 'http://upper:2' }).display, 'http://upper:2');
    assert.equal(at('https://h', { https_proxy: 'http://p:1', no_proxy: '', NO_PROXY: 'h' }), null);
    assert.notEqual(at('https://h', { https_proxy: 'http://p:1', no_proxy: 'other', NO_PROXY: 'h' }), null);
  });

  it('takes the credentials from the proxy URL for Proxy-Authorization, never for display', () => {
    const proxy = at('https://h', { https_proxy: 'http://ci%40acme:p%3Ass@proxy.internal:8080' });
    assert.equal(proxy.display, 'http://proxy.internal:8080');
    assert.equal(proxy.authorization, `Basic ${Buffer.from('ci@acme:p:ss').toString('base64')}`);
    assert.deepEqual([proxy.host, proxy.port], ['proxy.internal', 8080]);
    assert.equal(at('https://h', { https_proxy: 'proxy.internal:3128' }).display, 'http://proxy.internal:3128');
    assert.equal(at('https://h', { https_proxy: 'http://proxy.internal' }).port, 80);
  });

  it('refuses proxy URLs it cannot use', () => {
    assert.throws(() => at('https://h', { https_proxy: 'socks5://p:1080' }), /https_proxy must be an http:\/\/ proxy URL/);
    assert.throws(() => at('http://h', { http_proxy: 'http://[bad' }), /http_proxy is not a URL/);
  });
});

describe('no_proxy', () => {
  it('matches a host and its subdomains, with or without a leading dot or *.', () => {
    for (const entry of ['example.com', '.example.com', '*.example.com', 'EXAMPLE.com']) {
      assert.ok(bypass('https://example.com', entry), entry);
      assert.ok(bypass('https://hoop.example.com', entry), entry);
      assert.ok(bypass('https://a.b.example.com:8443', entry), entry);
      assert.ok(!bypass('https://notexample.com', entry), entry);
      assert.ok(!bypass('https://example.com.evil.test', entry), entry);
    }
  });

  it('matches IP addresses, IP ranges, host:port, and *', () => {
    assert.ok(bypass('http://10.1.2.3:8080', '10.1.2.3'));
    assert.ok(!bypass('http://10.1.2.4', '10.1.2.3'));
    assert.ok(bypass('http://10.1.2.4', '10.0.0.0/8'));
    assert.ok(!bypass('http://11.1.2.4', '10.0.0.0/8'));
    assert.ok(bypass('http://[::1]:8080', '::1'));
    assert.ok(bypass('http://[fd00::5]', 'fd00::/8'));
    assert.ok(bypass('https://hoop.internal:8443', 'hoop.internal:8443'));
    assert.ok(!bypass('https://hoop.internal', 'hoop.internal:8443'));
    assert.ok(bypass('https://hoop.internal', 'hoop.internal:443'));
    assert.ok(bypass('https://anything.test', '*'));
    assert.ok(bypass('https://b.test', 'a.test, b.test'));
    assert.ok(bypass('https://b.test', 'a.test b.test'));
    assert.ok(!bypass('https://c.test', 'a.test,,b.test'));
  });
});
