/**
 * Hostile values in every free-string field: each is either rejected with SPEC_UNSAFE_VALUE (or
 * SPEC_FORMAT / SPEC_REGEX) at that field, or accepted only when it is safe by the rules the
 * renderers rely on (printable ASCII; no single quote where haproxy.cfg single-quotes it; the
 * field's own alphabet).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import { HEADER_NAME_RE, SAFE_NAME_RE, formatPath } from '../../src/speclang/names.js';
import { formatDiagnostic } from '../../src/util/errors.js';

const HOSTILE = ['\n', '\r', '\0', "'", '#', '\\', '%[', '$', '\u2028', '\t', '"', ' ', '`', '\u00e9', '\x7f', '\x1b[31m', ';', ',', '&', '?', '}', ')', '${', '%%'];

/** A YAML double-quoted scalar with every non-printable character escaped. */
function yq(value: string): string {
  let out = '"';
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

const PRINTABLE_NO_QUOTE = /^[\x20-\x26\x28-\x7e]*$/;

interface Field {
  readonly name: string;
  /** Builds the value from the hostile fragment. */
  readonly carrier: (v: string) => string;
  /** Places the quoted value in a spec; returns the spec and the value's path. */
  readonly place: (quoted: string) => { yaml: string; path: (string | number)[] };
  /** What an accepted value must satisfy. */
  readonly safe: RegExp;
}

const NODES = `    - { name: lb-a, address: 10.0.1.10, zone: az-a }
    - { name: lb-b, address: 10.0.2.10, zone: az-b }`;

function spec(o: { route?: string; routeLine?: string; admin?: string; backendExtra?: string; bindTls?: string; frontendExtra?: string; cloud?: string; extra?: string; backendName?: string }): string {
  return `cluster:
  name: t
  vip: 192.168.100.10
  vpcCidrs: [10.0.0.0/16]
  nodes:
${NODES}
${o.cloud ?? ''}
${o.admin ?? ''}
frontends:
  - name: web
    binds: [{ address: vip, port: 80${o.bindTls ?? ''} }]
    defaultBackend: app
${o.frontendExtra ?? ''}
    routes:
      ${o.routeLine ?? `- { when: [${o.route ?? '{ header: X-A, present: true }'}], backend: app }`}
backends:
  - name: ${o.backendName ?? 'app'}
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]
${o.backendExtra ?? ''}
  - name: other
    servers: [{ name: s1, address: 10.0.11.12, port: 8080 }]
${o.extra ?? ''}
`;
}

const ROUTE_COND = ['frontends', 0, 'routes', 0, 'when', 0];
const URL_PATH = /^\/[\x21-\x22\x24-\x26\x28-\x3e\x40-\x7e]*$/;

const FIELDS: readonly Field[] = [
  { name: 'header exact', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ route: `{ header: X-A, exact: ${q} }` }), path: [...ROUTE_COND, 'exact'] }), safe: PRINTABLE_NO_QUOTE },
  { name: 'header prefix', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ route: `{ header: X-A, prefix: ${q} }` }), path: [...ROUTE_COND, 'prefix'] }), safe: PRINTABLE_NO_QUOTE },
  { name: 'header regex', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ route: `{ header: X-A, regex: ${q} }` }), path: [...ROUTE_COND, 'regex'] }), safe: /^[\x21-\x26\x28-\x7e]*$/ },
  { name: 'header name', carrier: (v) => `X${v}A`, place: (q) => ({ yaml: spec({ route: `{ header: ${q}, present: true }` }), path: [...ROUTE_COND, 'header'] }), safe: HEADER_NAME_RE },
  { name: 'query key', carrier: (v) => `k${v}y`, place: (q) => ({ yaml: spec({ route: `{ query: ${q}, present: true }` }), path: [...ROUTE_COND, 'query'] }), safe: /^[A-Za-z0-9_.~-]+$/ },
  { name: 'query exact', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ route: `{ query: k, exact: ${q} }` }), path: [...ROUTE_COND, 'exact'] }), safe: /^[\x21-\x22\x24-\x25\x27-\x3a\x3c-\x3e\x40-\x7e]*$/ },
  { name: 'query prefix', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ route: `{ query: k, prefix: ${q} }` }), path: [...ROUTE_COND, 'prefix'] }), safe: /^[\x21-\x22\x24-\x25\x27-\x3a\x3c-\x3e\x40-\x7e]*$/ },
  { name: 'query regex', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ route: `{ query: k, regex: ${q} }` }), path: [...ROUTE_COND, 'regex'] }), safe: /^[\x21-\x26\x28-\x7e]*$/ },
  { name: 'cookie name', carrier: (v) => `c${v}k`, place: (q) => ({ yaml: spec({ route: `{ cookie: ${q}, present: true }` }), path: [...ROUTE_COND, 'cookie'] }), safe: HEADER_NAME_RE },
  { name: 'cookie exact', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ route: `{ cookie: c, exact: ${q} }` }), path: [...ROUTE_COND, 'exact'] }), safe: /^[\x20\x21\x23-\x26\x28-\x2b\x2d-\x3a\x3c-\x7e]*$/ },
  { name: 'cookie prefix', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ route: `{ cookie: c, prefix: ${q} }` }), path: [...ROUTE_COND, 'prefix'] }), safe: /^[\x20\x21\x23-\x26\x28-\x2b\x2d-\x3a\x3c-\x7e]*$/ },
  { name: 'cookie regex', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ route: `{ cookie: c, regex: ${q} }` }), path: [...ROUTE_COND, 'regex'] }), safe: /^[\x21-\x26\x28-\x7e]*$/ },
  { name: 'path exact', carrier: (v) => `/a${v}b`, place: (q) => ({ yaml: spec({ route: `{ path: { exact: ${q} } }` }), path: [...ROUTE_COND, 'path', 'exact'] }), safe: URL_PATH },
  { name: 'path prefix', carrier: (v) => `/a${v}b`, place: (q) => ({ yaml: spec({ route: `{ path: { prefix: ${q} } }` }), path: [...ROUTE_COND, 'path', 'prefix'] }), safe: URL_PATH },
  { name: 'path regex', carrier: (v) => `^/a${v}b`, place: (q) => ({ yaml: spec({ route: `{ path: { regex: ${q} } }` }), path: [...ROUTE_COND, 'path', 'regex'] }), safe: /^[\x21-\x26\x28-\x7e]*$/ },
  { name: 'host exact', carrier: (v) => `a${v}b.example.com`, place: (q) => ({ yaml: spec({ route: `{ host: { exact: ${q} } }` }), path: [...ROUTE_COND, 'host', 'exact'] }), safe: /^[a-z0-9.-]+$/ },
  { name: 'host shorthand', carrier: (v) => `a${v}b.example.com`, place: (q) => ({ yaml: spec({ route: `{ host: ${q} }` }), path: [...ROUTE_COND, 'host'] }), safe: /^[a-z0-9.-]+$/ },
  { name: 'host suffix', carrier: (v) => `.a${v}b.com`, place: (q) => ({ yaml: spec({ route: `{ host: { suffix: ${q} } }` }), path: [...ROUTE_COND, 'host', 'suffix'] }), safe: /^\.?[a-z0-9.-]+$/ },
  { name: 'method', carrier: (v) => `GE${v}T`, place: (q) => ({ yaml: spec({ route: `{ method: ${q} }` }), path: [...ROUTE_COND, 'method'] }), safe: /^[A-Z]+$/ },
  { name: 'custom log format', carrier: (v) => `%ci ${v} %ST`, place: (q) => ({ yaml: spec({ frontendExtra: `    accessLog: { custom: ${q} }` }), path: ['frontends', 0, 'accessLog', 'custom'] }), safe: PRINTABLE_NO_QUOTE },
  { name: 'request id header', carrier: (v) => `X-Req${v}Id`, place: (q) => ({ yaml: spec({ frontendExtra: `    requestId: { header: ${q} }` }), path: ['frontends', 0, 'requestId', 'header'] }), safe: HEADER_NAME_RE },
  { name: 'certificate path', carrier: (v) => `/etc/a${v}b.pem`, place: (q) => ({ yaml: spec({ bindTls: `, tls: { certificates: [${q}] }` }), path: ['frontends', 0, 'binds', 0, 'tls', 'certificates', 0] }), safe: /^(\/[A-Za-z0-9._+-]+)+$/ },
  // LB-issued stickiness cookies (issue 21): the name is written into Set-Cookie and haproxy.cfg.
  {
    name: 'split stickyCookie name',
    carrier: (v) => `c${v}k`,
    place: (q) => ({ yaml: spec({ routeLine: `- { split: [{ backend: app, weight: 50 }, { backend: other, weight: 50 }], stickyCookie: { name: ${q}, duration: 1h } }` }), path: ['frontends', 0, 'routes', 0, 'stickyCookie', 'name'] }),
    safe: HEADER_NAME_RE,
  },
  { name: 'backend stickyCookie name', carrier: (v) => `c${v}k`, place: (q) => ({ yaml: spec({ backendExtra: `    stickyCookie: { name: ${q} }` }), path: ['backends', 0, 'stickyCookie', 'name'] }), safe: HEADER_NAME_RE },
  { name: 'backend stickyCookie duration', carrier: (v) => `1${v}h`, place: (q) => ({ yaml: spec({ backendExtra: `    stickyCookie: { name: c, duration: ${q} }` }), path: ['backends', 0, 'stickyCookie', 'duration'] }), safe: /^[0-9]+h$/ },
  // TLS (issue 21): names and files of certificates chosen by SNI, client-certificate CA and headers.
  { name: 'sni name', carrier: (v) => `a${v}b.example.com`, place: (q) => ({ yaml: spec({ bindTls: `, tls: { defaultCertificate: /etc/d.pem, sni: [{ names: [${q}], certificate: /etc/a.pem }] }` }), path: ['frontends', 0, 'binds', 0, 'tls', 'sni', 0, 'names', 0] }), safe: /^(\*\.)?[a-z0-9.-]+$/ },
  { name: 'sni certificate path', carrier: (v) => `/etc/a${v}b.pem`, place: (q) => ({ yaml: spec({ bindTls: `, tls: { defaultCertificate: /etc/d.pem, sni: [{ names: [a.example.com], certificate: ${q} }] }` }), path: ['frontends', 0, 'binds', 0, 'tls', 'sni', 0, 'certificate'] }), safe: /^(\/[A-Za-z0-9._+-]+)+$/ },
  { name: 'default certificate path', carrier: (v) => `/etc/a${v}b.pem`, place: (q) => ({ yaml: spec({ bindTls: `, tls: { defaultCertificate: ${q} }` }), path: ['frontends', 0, 'binds', 0, 'tls', 'defaultCertificate'] }), safe: /^(\/[A-Za-z0-9._+-]+)+$/ },
  { name: 'client CA path', carrier: (v) => `/etc/ca${v}b.pem`, place: (q) => ({ yaml: spec({ bindTls: `, tls: { certificates: [/etc/a.pem], clientCertificate: { ca: ${q} } }` }), path: ['frontends', 0, 'binds', 0, 'tls', 'clientCertificate', 'ca'] }), safe: /^(\/[A-Za-z0-9._+-]+)+$/ },
  { name: 'client subject header', carrier: (v) => `X${v}S`, place: (q) => ({ yaml: spec({ bindTls: `, tls: { certificates: [/etc/a.pem], clientCertificate: { ca: /etc/ca.pem, subjectHeader: ${q} } }` }), path: ['frontends', 0, 'binds', 0, 'tls', 'clientCertificate', 'subjectHeader'] }), safe: HEADER_NAME_RE },
  { name: 'client verified header', carrier: (v) => `X${v}V`, place: (q) => ({ yaml: spec({ bindTls: `, tls: { certificates: [/etc/a.pem], clientCertificate: { ca: /etc/ca.pem, verifiedHeader: ${q} } }` }), path: ['frontends', 0, 'binds', 0, 'tls', 'clientCertificate', 'verifiedHeader'] }), safe: HEADER_NAME_RE },
  { name: 'health-check path', carrier: (v) => `/health${v}z`, place: (q) => ({ yaml: spec({ backendExtra: `    healthCheck: { type: http, path: ${q} }` }), path: ['backends', 0, 'healthCheck', 'path'] }), safe: URL_PATH },
  { name: 'health-check host', carrier: (v) => `a${v}b.internal`, place: (q) => ({ yaml: spec({ backendExtra: `    healthCheck: { type: http, host: ${q} }` }), path: ['backends', 0, 'healthCheck', 'host'] }), safe: /^[a-z0-9.-]+$/ },
  { name: 'admin health path', carrier: (v) => `/ok${v}`, place: (q) => ({ yaml: spec({ admin: `admin:\n  health: { path: ${q} }` }), path: ['admin', 'health', 'path'] }), safe: URL_PATH },
  { name: 'password hash', carrier: (v) => `$6$saltsalt$abcdefgh${v}ijkl`, place: (q) => ({ yaml: spec({ admin: `admin:\n  stats: { bind: node, auth: { user: ops, passwordHash: ${q} } }` }), path: ['admin', 'stats', 'auth', 'passwordHash'] }), safe: /^\$[./0-9A-Za-z$=,]+$/ },
  { name: 'access log socket', carrier: (v) => `/run/l${v}og`, place: (q) => ({ yaml: spec({ admin: `admin:\n  accessLog: { to: syslog, socket: ${q} }` }), path: ['admin', 'accessLog', 'socket'] }), safe: /^(\/[A-Za-z0-9._+-]+)+$/ },
  { name: 'access log file', carrier: (v) => `/var/log/a${v}b.log`, place: (q) => ({ yaml: spec({ admin: `admin:\n  accessLog: { to: file, path: ${q} }` }), path: ['admin', 'accessLog', 'path'] }), safe: /^(\/[A-Za-z0-9._+-]+)+$/ },
  { name: 'runtime socket', carrier: (v) => `/run/a${v}b.sock`, place: (q) => ({ yaml: spec({ admin: `admin:\n  runtimeSocket: ${q}` }), path: ['admin', 'runtimeSocket'] }), safe: /^(\/[A-Za-z0-9._+-]+)+$/ },
  { name: 'route table tag value', carrier: (v) => `a${v}b`, place: (q) => ({ yaml: spec({ cloud: `  cloud: { routeTables: { tags: { owner: ${q} } } }` }), path: ['cluster', 'cloud', 'routeTables', 'tags', 'owner'] }), safe: /^[\x20-\x21\x23-\x26\x28-\x5f\x61-\x7e]*$/ },
  { name: 'backend name', carrier: (v) => `app${v}x`, place: (q) => ({ yaml: spec({ backendName: q }).replace('defaultBackend: app', `defaultBackend: ${q}`).replace('], backend: app }', `], backend: ${q} }`), path: ['backends', 0, 'name'] }), safe: SAFE_NAME_RE },
  { name: 'file source path', carrier: (v) => `/etc/s${v}.json`, place: (q) => ({ yaml: spec({ extra: `discovery:\n  - { name: f, type: file, path: ${q} }` }), path: ['discovery', 0, 'path'] }), safe: /^(\/[A-Za-z0-9._+-]+)+$/ },
  { name: 'etcd prefix', carrier: (v) => `/svc${v}/`, place: (q) => ({ yaml: spec({ extra: `discovery:\n  - { name: e, type: etcd, endpoints: ["http://127.0.0.1:2379"], prefix: ${q} }` }), path: ['discovery', 0, 'prefix'] }), safe: /^[\x20-\x21\x23-\x26\x28-\x5f\x61-\x7e]*$/ },
];

for (const field of FIELDS) {
  void test(`hostile values in ${field.name}`, () => {
    const clean = field.place(yq(field.carrier('')));
    const baseline = parseSpec(clean.yaml, { file: 'h.yaml' });
    assert.equal(baseline.ok, true, `the carrier itself must be valid: ${baseline.ok ? '' : baseline.diagnostics.map(formatDiagnostic).join('\n')}`);
    for (const fragment of HOSTILE) {
      const value = field.carrier(fragment);
      const { yaml, path } = field.place(yq(value));
      const r = parseSpec(yaml, { file: 'h.yaml' });
      const label = `${field.name} = ${JSON.stringify(value)}`;
      const normalized = field.name.startsWith('host') ? value.toLowerCase() : value;
      if (r.ok) {
        assert.match(normalized, field.safe, `${label} was accepted but is unsafe`);
        continue;
      }
      const here = r.diagnostics.filter((d) => formatPath(d.path) === formatPath(path));
      assert.ok(here.length > 0, `${label}: no diagnostic at ${formatPath(path)}: ${r.diagnostics.map(formatDiagnostic).join('\n')}`);
      for (const d of r.diagnostics) {
        assert.ok(['SPEC_UNSAFE_VALUE', 'SPEC_FORMAT', 'SPEC_REGEX'].includes(d.code), `${label}: unexpected ${d.code}: ${d.message}`);
        assert.doesNotMatch(formatDiagnostic(d), /[^\x20-\x7e]/, `${label}: the message itself carries an unsafe character`);
      }
      if (/[^\x20-\x7e]/.test(value)) assert.ok(here.some((d) => d.code === 'SPEC_UNSAFE_VALUE'), `${label}: a control or non-ASCII character must be SPEC_UNSAFE_VALUE`);
      if (value.includes("'") && field.safe === PRINTABLE_NO_QUOTE) assert.ok(here.some((d) => d.code === 'SPEC_UNSAFE_VALUE'), `${label}: a single quote must be SPEC_UNSAFE_VALUE`);
    }
  });
}

void test('the password hash is never echoed in a message', () => {
  const r = parseSpec(spec({ admin: 'admin:\n  stats: { bind: node, auth: { user: ops, passwordHash: "correct horse" } }' }), { file: 'h.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.ok(r.diagnostics.every((d) => !d.message.includes('horse')), r.diagnostics.map(formatDiagnostic).join('\n'));
});
