/**
 * Hostile values in every string field of issue 21 (query and cookie conditions, header
 * rewrites, redirects, fixed responses, LB-issued stickiness cookies): a value is either refused by validate, or it renders
 * without adding a line to haproxy.cfg or to any map file (the same line counts as a harmless
 * value), and the rendered config passes `haproxy -c`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderHaproxy, type RenderedHaproxy } from '../../src/render/haproxy.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { haproxyCheck } from '../property/checks.js';

const HOSTILE = ['\n', '\r\n', '\0', "'", '"', '#', '\\', '%[src]', '%', '$HOME', '${', '${host', '}', ' ', '\t', ';', ',', '&', '?', '\u2028', '\u00e9', '\x7f', ' if TRUE', "' if TRUE '", '\n  http-request deny', ')', ']'];

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

function spec(routes: string, backendExtra = ''): string {
  return `cluster:
  name: t
  vip: 192.168.100.10
  nodes: [{ name: lb-a, address: 10.0.1.10, zone: az-a }]
frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
${routes}
backends:
  - name: app
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]${backendExtra}
  - name: other
    servers: [{ name: s1, address: 10.0.11.12, port: 8080 }]
`;
}

const SPLIT = 'split: [{ backend: app, weight: 60 }, { backend: other, weight: 40 }]';

/** Each field: the routes YAML with the quoted value placed in it (twice for map shapes). */
const FIELDS: readonly { name: string; carrier: (v: string) => string; routes: (q: string) => string; backend?: (q: string) => string }[] = [
  { name: 'split stickyCookie name', carrier: (v) => `c${v}`, routes: (q) => `      - { ${SPLIT}, stickyCookie: { name: ${q} } }` },
  { name: 'split stickyCookie duration', carrier: (v) => `1h${v}`, routes: (q) => `      - { ${SPLIT}, stickyCookie: { name: c, duration: ${q} } }` },
  { name: 'split stickyCookie sameSite', carrier: (v) => `Lax${v}`, routes: (q) => `      - { ${SPLIT}, stickyCookie: { name: c, sameSite: ${q} } }` },
  { name: 'backend stickyCookie name', carrier: (v) => `c${v}`, routes: () => '      - { backend: app }', backend: (q) => `\n    stickyCookie: { name: ${q}, duration: 1h }` },
  { name: 'backend stickyCookie duration', carrier: (v) => `1h${v}`, routes: () => '      - { backend: app }', backend: (q) => `\n    stickyCookie: { name: c, duration: ${q} }` },
  { name: 'query key', carrier: (v) => `k${v}`, routes: (q) => `      - { when: [{ query: ${q}, exact: "1" }], backend: app }\n      - { when: [{ query: ${q}, exact: "2" }], backend: app }` },
  { name: 'query exact (map)', carrier: (v) => `a${v}b`, routes: (q) => `      - { when: [{ query: k, exact: ${q} }], backend: app }\n      - { when: [{ query: k, exact: x }], backend: app }` },
  { name: 'query prefix', carrier: (v) => `a${v}b`, routes: (q) => `      - { when: [{ query: k, prefix: ${q} }, { method: GET }], backend: app }` },
  { name: 'query regex', carrier: (v) => `a${v}b`, routes: (q) => `      - { when: [{ query: k, regex: ${q} }], backend: app }` },
  { name: 'cookie name', carrier: (v) => `c${v}`, routes: (q) => `      - { when: [{ cookie: ${q}, present: true }], backend: app }` },
  { name: 'cookie exact (map)', carrier: (v) => `a${v}b`, routes: (q) => `      - { when: [{ cookie: c, exact: ${q} }], backend: app }\n      - { when: [{ cookie: c, exact: x }], backend: app }` },
  { name: 'cookie prefix', carrier: (v) => `a${v}b`, routes: (q) => `      - { when: [{ cookie: c, prefix: ${q} }, { method: GET }], backend: app }` },
  { name: 'cookie regex', carrier: (v) => `a${v}b`, routes: (q) => `      - { when: [{ cookie: c, regex: ${q} }], backend: app }` },
  { name: 'request header name (set)', carrier: (v) => `X-A${v}`, routes: (q) => `      - { backend: app, requestHeaders: { set: { ${q}: "1" } } }` },
  { name: 'request header value (set)', carrier: (v) => `a${v}b`, routes: (q) => `      - { backend: app, requestHeaders: { set: { X-A: ${q} } } }` },
  { name: 'request header value (add)', carrier: (v) => `\${host}${v}`, routes: (q) => `      - { backend: app, requestHeaders: { add: { X-A: ${q} } } }` },
  { name: 'request header remove', carrier: (v) => `X-A${v}`, routes: (q) => `      - { backend: app, requestHeaders: { remove: [${q}] } }` },
  { name: 'response header name (add)', carrier: (v) => `X-A${v}`, routes: (q) => `      - { backend: app, responseHeaders: { add: { ${q}: "1" } } }` },
  { name: 'response header value (set)', carrier: (v) => `a${v}\${path}`, routes: (q) => `      - { backend: app, responseHeaders: { set: { X-A: ${q} } } }` },
  { name: 'redirect host', carrier: (v) => `a${v}.example.com`, routes: (q) => `      - { redirect: { host: ${q} } }` },
  { name: 'redirect path', carrier: (v) => `/a${v}b`, routes: (q) => `      - { redirect: { path: ${q} } }` },
  { name: 'redirect query', carrier: (v) => `a=${v}`, routes: (q) => `      - { redirect: { query: ${q} } }` },
  { name: 'fixed response content type', carrier: (v) => `text/plain${v}`, routes: (q) => `      - { respond: { status: 200, contentType: ${q}, body: x } }` },
  { name: 'fixed response body', carrier: (v) => `a${v}b`, routes: (q) => `      - { respond: { status: 200, body: ${q} } }` },
  { name: 'fixed response body file', carrier: (v) => `/srv/a${v}b.html`, routes: (q) => `      - { respond: { status: 200, bodyFile: ${q} } }` },
];

function render(routes: string, backendExtra = ''): RenderedHaproxy | string {
  const r = parseSpec(spec(routes, backendExtra), { file: 'h.yaml' });
  if (!r.ok) return r.diagnostics.map(formatDiagnostic).join('\n');
  return renderHaproxy(r.spec, { node: 'lb-a', specHash: r.hash, mapDir: '/run/olb/maps' });
}

const lines = (text: string): number => text.split('\n').length;

void test('hostile values in the fields of issue 21 never add a line or a directive', async (t) => {
  let accepted = 0;
  const dir = await mkdtemp(join(tmpdir(), 'olb-l7h-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const toCheck: RenderedHaproxy[] = [];
  for (const field of FIELDS) {
    const at = (v: string): RenderedHaproxy | string => render(field.routes(yq(v)), field.backend?.(yq(v)) ?? '');
    const clean = at(field.carrier(field.name.includes('sameSite') || field.name.includes('duration') ? '' : 'x'));
    assert.ok(typeof clean !== 'string', `${field.name}: the carrier itself must be valid: ${typeof clean === 'string' ? clean : ''}`);
    // A value with a blank cannot be a map key, so its route is rendered inline: compared with a
    // harmless value of that kind (a plain space) instead.
    const spaced = at(field.carrier(' '));
    for (const fragment of HOSTILE) {
      const value = field.carrier(fragment);
      const out = at(value);
      const base: RenderedHaproxy = /[ \t]/.test(value) && typeof spaced !== 'string' ? spaced : clean;
      if (typeof out === 'string') {
        assert.doesNotMatch(out, /[^\x20-\x7e\n]/, `${field.name} = ${JSON.stringify(value)}: the message carries an unsafe character`);
        continue;
      }
      accepted++;
      const label = `${field.name} = ${JSON.stringify(value)}`;
      assert.equal(lines(out.config), lines(base.config), `${label} changed the number of haproxy.cfg lines`);
      assert.deepEqual(out.maps.map((m) => [m.name, lines(m.content)]), base.maps.map((m) => [m.name, lines(m.content)]), `${label} changed the map files`);
      toCheck.push(out);
    }
  }
  assert.ok(accepted > 20, `only ${accepted} hostile values were accepted: the test checks little`);
  // The accepted ones must also be valid HAProxy (a body file does not exist here: -c would say so).
  for (const out of toCheck.filter((o) => !o.config.includes(' file /srv/'))) {
    const mapDir = join(dir, 'maps');
    const config = out.config.replaceAll('/run/olb/maps', mapDir);
    const verdict = await haproxyCheck({ config, maps: out.maps, dir, mapDir, signal: AbortSignal.timeout(60_000) });
    assert.equal(verdict.ok, true, `${verdict.output}\n${config.slice(config.indexOf('frontend web'))}`);
  }
});
