/**
 * TLS in the spec (issue 21, item 4), the pure layers: validation messages naming the value and
 * the fix, defaults, the crt-list and bind options rendered, the renderer's last line of defence,
 * what the planner does when the names change, and the certificate `explain` gives a name.
 * The same choice is checked against a real haproxy in test/haproxy/tls.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Spec, Tls } from '../../src/model/spec.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { chooseSniCertificate, explainSni } from '../../src/speclang/tls-names.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { renderTlsBind } from '../../src/render/tls.js';
import { plan } from '../../src/plan/planner.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { SystemError } from '../../src/util/errors.js';
import { baseSpec, edit, stateOf } from '../plan/fixtures.js';

function yaml(tls: string, mode = 'http'): string {
  return `cluster:
  name: t
  vip: 192.168.100.10
  vpcCidrs: [10.0.0.0/16]
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
frontends:
  - name: web
    mode: ${mode}
    binds: [{ address: vip, port: 443, tls: ${tls} }]
    defaultBackend: app
backends:
  - name: app
    mode: ${mode}
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]
`;
}

function errors(tls: string): string[] {
  const r = parseSpec(yaml(tls), { file: 't.yaml' });
  assert.equal(r.ok, false, `expected ${tls} to be refused`);
  return r.ok ? [] : r.diagnostics.map((d) => `${d.code} ${formatDiagnostic(d)}`);
}

function tlsOf(tls: string, mode = 'http'): Tls {
  const r = parseSpec(yaml(tls, mode), { file: 't.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  const t = r.spec.frontends[0]?.binds[0]?.tls;
  assert.ok(t);
  return t;
}

const SNI = '{ defaultCertificate: /etc/d.pem, sni: [{ names: [a.example.com, www.a.example.com], certificate: /etc/a.pem }, { names: ["*.b.example.com"], certificate: /etc/b.pem }] }';

void test('TLS errors name the value, what is allowed and the fix', () => {
  const cases: [string, string[]][] = [
    ['{ certificates: [/etc/a.pem], sni: [{ names: [a.example.com], certificate: /etc/b.pem }], defaultCertificate: /etc/d.pem }', [
      'SPEC_CONFLICT t.yaml:10:61: frontends[0].binds[0].tls.certificates: use either certificates (HAProxy picks by the names inside each file) or sni + defaultCertificate (names in the spec), not both; move each file to sni with the names it serves',
    ]],
    ['{ sni: [{ names: [a.example.com], certificate: /etc/b.pem }] }', [
      'SPEC_REQUIRED t.yaml:10:45: frontends[0].binds[0].tls.defaultCertificate: sni needs a defaultCertificate: the certificate served when the client sends no server name or one no entry lists',
    ]],
    ['{ minVersion: TLSv1.3 }', ['SPEC_REQUIRED t.yaml:10:45: frontends[0].binds[0].tls: a TLS bind needs certificates, or sni entries with a defaultCertificate']],
    ['{ defaultCertificate: /etc/d.pem, sni: [{ names: [A.example.com], certificate: /etc/b.pem }] }', [
      'SPEC_FORMAT t.yaml:10:95: frontends[0].binds[0].tls.sni[0].names[0]: "A.example.com": write server names in lower case ("a.example.com"); clients\' names are compared in lower case',
    ]],
    ['{ defaultCertificate: /etc/d.pem, sni: [{ names: ["a.example.com:443"], certificate: /etc/b.pem }] }', [
      'SPEC_FORMAT t.yaml:10:95: frontends[0].binds[0].tls.sni[0].names[0]: "a.example.com:443" is not a server name: use labels of letters, digits and \'-\' separated by \'.\', optionally starting with "*." for exactly one label (no port, no scheme), for example "api.example.com" or "*.example.com"',
    ]],
    ['{ defaultCertificate: /etc/d.pem, sni: [{ names: [a.example.com], certificate: /etc/b.pem }, { names: [a.example.com], certificate: /etc/c.pem }] }', [
      'SPEC_DUPLICATE t.yaml:10:148: frontends[0].binds[0].tls.sni[1].names[0]: server name "a.example.com" is already listed in sni[0]; each name picks one certificate, remove one of them',
    ]],
    ['{ certificates: [/etc/a.pem], minVersion: TLSv1.3, ciphers: [ECDHE-RSA-AES128-GCM-SHA256] }', [
      'SPEC_CONFLICT t.yaml:10:105: frontends[0].binds[0].tls.ciphers: ciphers apply to TLS 1.2 only and minVersion is TLSv1.3; remove ciphers or choose TLS 1.3 suites with ciphersuites',
    ]],
    ['{ certificates: [/etc/a.pem], clientCertificate: { ca: /etc/ca.pem, verify: maybe } }', [
      'SPEC_ENUM t.yaml:10:121: frontends[0].binds[0].tls.clientCertificate.verify: "maybe" is not allowed; allowed: required, optional.',
    ]],
    ['{ certificates: [/etc/a.pem], clientCertificate: { ca: /etc/ca.pem, subjectHeader: X-A, verifiedHeader: x-a } }', [
      'SPEC_CONFLICT t.yaml:10:149: frontends[0].binds[0].tls.clientCertificate.verifiedHeader: subjectHeader and verifiedHeader must be different headers',
    ]],
  ];
  for (const [tls, want] of cases) assert.deepEqual(errors(tls), want, tls);
});

void test('ciphers are names from a fixed list: a cipher string, keyword or hostile value is refused at the value', () => {
  for (const bad of ['HIGH:!aNULL', 'ALL', '@SECLEVEL=0', 'ECDHE-RSA-AES128-GCM-SHA256 ciphers ALL', 'ECDHE-RSA-AES128-GCM-SHA256\n  bind :1', "a'b", '']) {
    for (const field of ['ciphers', 'ciphersuites']) {
      const [first, ...rest] = errors(`{ certificates: [/etc/a.pem], ${field}: [${JSON.stringify(bad)}] }`);
      assert.deepEqual(rest, [], bad);
      assert.match(first ?? '', new RegExp(`^SPEC_ENUM t\\.yaml:10:\\d+: frontends\\[0\\]\\.binds\\[0\\]\\.tls\\.${field}\\[0\\]: .* is not allowed; allowed: `), `${field} ${JSON.stringify(bad)}`);
      assert.doesNotMatch(first ?? '', /[^\x20-\x7e]/, 'the message itself stays one printable line');
    }
  }
});

void test('defaults: TLS 1.2, h2 + http/1.1 in http mode, none in tcp; mTLS required with x-client-* headers', () => {
  const t = tlsOf('{ certificates: [/etc/a.pem], clientCertificate: { ca: /etc/ca.pem, subjectHeader: X-Partner } }');
  assert.deepEqual(t, {
    certificates: ['/etc/a.pem'], minVersion: 'TLSv1.2', alpn: ['h2', 'http/1.1'],
    clientCertificate: { ca: '/etc/ca.pem', verify: 'required', subjectHeader: 'x-partner', verifiedHeader: 'x-client-verified' },
  });
  assert.deepEqual(tlsOf('{ certificates: [/etc/a.pem] }', 'tcp').alpn, []);
  assert.deepEqual(tlsOf(SNI).sni, { defaultCertificate: '/etc/d.pem', entries: [{ names: ['a.example.com', 'www.a.example.com'], certificate: '/etc/a.pem' }, { names: ['*.b.example.com'], certificate: '/etc/b.pem' }] });
});

void test('the crt-list: the default first with no name of its own, then one line per entry', () => {
  const out = renderTlsBind({ frontend: 'web', bindIndex: 0, tls: { ...tlsOf(SNI), ciphers: ['ECDHE-RSA-AES128-GCM-SHA256'] }, mapDir: '/run/m' });
  assert.equal(out.words, ' ssl crt-list /run/m/web.bind-1.crt-list ssl-min-ver TLSv1.2 ciphers ECDHE-RSA-AES128-GCM-SHA256 alpn h2,http/1.1');
  assert.equal(out.crtList?.name, 'web.bind-1.crt-list');
  assert.deepEqual(out.crtList?.content.split('\n').filter((l) => !l.startsWith('#')), ['/etc/d.pem !*', '/etc/a.pem a.example.com www.a.example.com', '/etc/b.pem *.b.example.com', '']);
});

void test('a value the spec layer would refuse never reaches a generated file: the renderer throws INTERNAL', () => {
  const good = tlsOf(SNI);
  const entries = good.sni?.entries ?? [];
  const bad: [string, Tls][] = [
    ['name with a newline', { ...good, sni: { defaultCertificate: '/etc/d.pem', entries: [{ names: ['a.example.com\n/etc/x.pem evil'], certificate: '/etc/a.pem' }] } }],
    ['name starting a comment', { ...good, sni: { defaultCertificate: '/etc/d.pem', entries: [{ names: ['#a'], certificate: '/etc/a.pem' }] } }],
    ['name with a blank', { ...good, sni: { defaultCertificate: '/etc/d.pem', entries: [{ names: ['a.example.com [verify none]'], certificate: '/etc/a.pem' }] } }],
    ['path with a blank', { ...good, sni: { defaultCertificate: '/etc/d.pem', entries: [{ names: ['a.example.com'], certificate: '/etc/a.pem verify none' }, ...entries] } }],
    ['default path with a newline', { ...good, sni: { defaultCertificate: '/etc/d.pem\n/etc/e.pem', entries } }],
    ['cipher string', { ...good, ciphers: ['ALL:@SECLEVEL=0'] }],
    ['cipher with a blank', { ...good, ciphersuites: ['TLS_AES_128_GCM_SHA256 verify none'] }],
    ['CA path with an address', { ...good, clientCertificate: { ca: '/etc/ca.pem,ipv4@0.0.0.0:1', verify: 'required', subjectHeader: 'x-s', verifiedHeader: 'x-v' } }],
  ];
  for (const [what, tls] of bad) {
    assert.throws(() => renderTlsBind({ frontend: 'web', bindIndex: 0, tls, mapDir: '/run/m' }), (err: unknown) => err instanceof SystemError && err.code === 'INTERNAL', what);
  }
});

void test('the planner: a changed set of names reloads (the crt-list is structure); the crt-list is no map', () => {
  const withSni = (names: string[]): Spec => edit(baseSpec(), (s) => {
    const fe = s.frontends[0];
    if (fe === undefined) throw new Error('fixture has a frontend');
    fe.binds = [{ address: 'vip', port: 443, tls: { certificates: [], sni: { defaultCertificate: '/etc/d.pem', entries: [{ names, certificate: '/etc/a.pem' }] }, minVersion: 'TLSv1.2', alpn: [] } }];
  });
  const before = stateOf(withSni(['a.example.com']));
  assert.deepEqual(before.maps.map((m) => m.name).filter((n) => n.endsWith('.crt-list')), []);
  assert.equal(plan(before, stateOf(withSni(['a.example.com']))).kind, 'none');
  assert.equal(plan(before, stateOf(withSni(['a.example.com', 'b.example.com']))).kind, 'reload');
});

void test('explain: exact names before one-label wildcards, else the default; names compare in lower case', () => {
  const t = tlsOf(SNI);
  const sni = t.sni;
  assert.ok(sni);
  const cases: [string | undefined, string, string][] = [
    ['a.example.com', '/etc/a.pem', 'exact'],
    ['WWW.A.Example.COM', '/etc/a.pem', 'exact'],
    ['x.b.example.com', '/etc/b.pem', 'wildcard'],
    ['b.example.com', '/etc/d.pem', 'default'],
    ['y.x.b.example.com', '/etc/d.pem', 'default'],
    ['other.test', '/etc/d.pem', 'default'],
    [undefined, '/etc/d.pem', 'default'],
  ];
  for (const [name, certificate, kind] of cases) {
    const c = chooseSniCertificate(name, sni.entries, sni.defaultCertificate);
    assert.deepEqual([c.certificate, c.kind], [certificate, kind], String(name));
  }
  const r = parseSpec(yaml(SNI), { file: 't.yaml' });
  assert.ok(r.ok);
  assert.deepEqual(explainSni(r.spec, 'x.b.example.com'), [{ frontend: 'web', bind: 'vip:443', certificate: '/etc/b.pem', why: 'sni[1] lists the wildcard *.b.example.com' }]);
  const rendered = renderHaproxy(r.spec, { node: 'lb-a', specHash: 'x', mapDir: '/run/m' });
  assert.match(rendered.config, /^ {2}bind 192\.168\.100\.10:443 ssl crt-list \/run\/m\/web\.bind-1\.crt-list /m);
});
