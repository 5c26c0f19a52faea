/**
 * Every path field of the spec against HAProxy's address syntax and path hygiene: each hostile
 * value is rejected at its field with the exact message (the value, the rule, the fix); every
 * accepted form renders an admin socket that is a Unix socket with mode 600, never a network or
 * abstract socket, and the rendered config passes the real `haproxy -c`.
 *
 * The fields: admin.runtimeSocket, admin.masterSocket and admin.accessLog.socket (sockets),
 * admin.stateDir (directory), admin.accessLog.path, frontends[].binds[].tls.certificates[] and
 * discovery[].path of a file source (files).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { renderKeepalived } from '../../src/render/keepalived.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { checkHaproxyConfig } from '../helpers/haproxy-check.js';

type Kind = 'socket' | 'directory' | 'file';

interface Field {
  readonly path: string;
  readonly kind: Kind;
  /** A spec with `quoted` (a YAML double-quoted scalar) in the field. */
  readonly yaml: (quoted: string) => string;
}

function spec(o: { admin?: string; tls?: string; discovery?: string } = {}): string {
  return `cluster:
  name: t
  vip: 192.168.100.10
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
admin: { ${o.admin ?? ''} }
frontends:
  - name: web
    binds: [{ address: vip, port: 443${o.tls === undefined ? '' : `, tls: { certificates: [${o.tls}] }`} }]
    defaultBackend: app
backends:
  - name: app
    ${o.discovery === undefined ? 'servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]' : 'discovery: { source: files }'}
${o.discovery === undefined ? '' : `discovery:\n  - { name: files, type: file, path: ${o.discovery} }\n`}`;
}

const FIELDS: readonly Field[] = [
  { path: 'admin.runtimeSocket', kind: 'socket', yaml: (q) => spec({ admin: `runtimeSocket: ${q}` }) },
  { path: 'admin.masterSocket', kind: 'socket', yaml: (q) => spec({ admin: `masterSocket: ${q}` }) },
  { path: 'admin.stateDir', kind: 'directory', yaml: (q) => spec({ admin: `stateDir: ${q}` }) },
  { path: 'admin.accessLog.socket', kind: 'socket', yaml: (q) => spec({ admin: `accessLog: { to: syslog, socket: ${q} }` }) },
  { path: 'admin.accessLog.path', kind: 'file', yaml: (q) => spec({ admin: `accessLog: { to: file, path: ${q} }` }) },
  { path: 'frontends[0].binds[0].tls.certificates[0]', kind: 'file', yaml: (q) => spec({ tls: q }) },
  { path: 'discovery[0].path', kind: 'file', yaml: (q) => spec({ discovery: q }) },
];

const EXAMPLE: Record<Kind, string> = { socket: '/run/overlay-lb/haproxy.sock', directory: '/run/overlay-lb', file: '/etc/overlay-lb/tls/site.pem' };
const RULE = "a path is '/' followed by names of letters, digits, '.', '_', '-' and '+', separated by single '/'";
const FAMILY = "HAProxy reads 'family@' in an address as a socket family (ipv4@, ipv6@, unix@, abns@ for an abstract socket without file permissions, fd@, sockpair@)";
const comma = (rest: string) =>
  `HAProxy reads ',' in an address as the start of another address, so "${rest}" would be read as another address (a second socket) or, after haproxy's -S, as socket options such as mode`;

interface Hostile {
  readonly value: string;
  /** The expected `code message` after the field's path, per kind of field. */
  readonly expected: (kind: Kind) => string;
}

const LONG = `/run/overlay-lb/${'x'.repeat(80)}.sock`;

const HOSTILE: readonly Hostile[] = [
  {
    value: '/run/overlay-lb/haproxy.sock,ipv4@0.0.0.0:9999',
    expected: () => `SPEC_UNSAFE_VALUE "/run/overlay-lb/haproxy.sock,ipv4@0.0.0.0:9999" contains "," at position 29: ${comma(',ipv4@0.0.0.0:9999')}; ${RULE}: remove everything from ",", for example "/run/overlay-lb/haproxy.sock"`,
  },
  {
    value: '/run/overlay-lb/haproxy.sock,abns@name',
    expected: () => `SPEC_UNSAFE_VALUE "/run/overlay-lb/haproxy.sock,abns@name" contains "," at position 29: ${comma(',abns@name')}; ${RULE}: remove everything from ",", for example "/run/overlay-lb/haproxy.sock"`,
  },
  {
    value: '/run/overlay-lb/haproxy-master.sock,mode,666',
    expected: () => `SPEC_UNSAFE_VALUE "/run/overlay-lb/haproxy-master.sock,mode,666" contains "," at position 36: ${comma(',mode,666')}; ${RULE}: remove everything from ",", for example "/run/overlay-lb/haproxy-master.sock"`,
  },
  { value: 'abns@olb', expected: (k) => `SPEC_UNSAFE_VALUE "abns@olb" contains "@" at position 5: ${FAMILY}; ${RULE}: write a plain absolute path, for example "${EXAMPLE[k]}"` },
  { value: 'ipv4@0.0.0.0:9999', expected: (k) => `SPEC_UNSAFE_VALUE "ipv4@0.0.0.0:9999" contains "@" at position 5: ${FAMILY}; ${RULE}: write a plain absolute path, for example "${EXAMPLE[k]}"` },
  { value: 'ipv6@:::9999', expected: (k) => `SPEC_UNSAFE_VALUE "ipv6@:::9999" contains "@" at position 5: ${FAMILY}; ${RULE}: write a plain absolute path, for example "${EXAMPLE[k]}"` },
  { value: 'fd@3', expected: (k) => `SPEC_UNSAFE_VALUE "fd@3" contains "@" at position 3: ${FAMILY}; ${RULE}: write a plain absolute path, for example "${EXAMPLE[k]}"` },
  { value: 'sockpair@4', expected: (k) => `SPEC_UNSAFE_VALUE "sockpair@4" contains "@" at position 9: ${FAMILY}; ${RULE}: write a plain absolute path, for example "${EXAMPLE[k]}"` },
  { value: 'unix@/run/olb/x', expected: () => `SPEC_UNSAFE_VALUE "unix@/run/olb/x" contains "@" at position 5: ${FAMILY}; ${RULE}: write a plain absolute path, for example "/run/olb/x"` },
  { value: '/run/olb/x:9999', expected: () => `SPEC_UNSAFE_VALUE "/run/olb/x:9999" contains ":" at position 11: HAProxy reads ':' in an address as the separator of a port; ${RULE}: rename it` },
  { value: '/run/$HOME/x', expected: () => `SPEC_UNSAFE_VALUE "/run/$HOME/x" contains "$" at position 6: HAProxy expands '$NAME' in an unquoted word to an environment variable; ${RULE}: rename it` },
  { value: '/run/olb#x', expected: () => `SPEC_UNSAFE_VALUE "/run/olb#x" contains "#" at position 9: HAProxy and keepalived read '#' as the start of a comment; ${RULE}: rename it` },
  { value: '/run/olb\\x', expected: () => `SPEC_UNSAFE_VALUE "/run/olb\\\\x" contains "\\\\" at position 9: HAProxy reads '\\' as an escape; ${RULE}: rename it` },
  { value: '/run/olb x', expected: () => `SPEC_UNSAFE_VALUE "/run/olb x" contains " " at position 9: HAProxy and keepalived split words at a space; ${RULE}: rename it` },
  { value: '/run/olb"x', expected: () => 'SPEC_UNSAFE_VALUE "/run/olb\\"x" contains a quote character, which cannot be placed safely in a generated file: rename the file' },
  { value: '/run/olb\nx', expected: () => 'SPEC_UNSAFE_VALUE "/run/olb\\nx" contains the character \\n at position 9; only printable ASCII (0x20-0x7e) is allowed: remove it' },
  { value: '/run/olb=x', expected: () => `SPEC_FORMAT "/run/olb=x" contains "=" at position 9, which a path may not contain; ${RULE}: rename it` },
  { value: '/run/olb*', expected: () => `SPEC_FORMAT "/run/olb*" contains "*" at position 9, which a path may not contain; ${RULE}: rename it` },
  { value: '/run/olb/', expected: (k) => `SPEC_FORMAT "/run/olb/" ends with '/'; write the ${k === 'directory' ? 'directory' : 'path'} without it: "/run/olb"` },
  { value: '/run//olb', expected: () => 'SPEC_FORMAT "/run//olb" contains an empty component ("//"); write it with single \'/\': "/run/olb"' },
  { value: '/run/./olb', expected: () => 'SPEC_FORMAT "/run/./olb" contains a "." component; write the path without it, for example "/run/olb"' },
  { value: '/run/../etc/olb', expected: () => 'SPEC_FORMAT "/run/../etc/olb" contains a ".." component; write the path without it, for example "/etc/olb"' },
  { value: '/', expected: (k) => `SPEC_FORMAT "/" is the root directory; ${k === 'directory' ? 'use a directory of its own' : 'name a file'}, for example "${EXAMPLE[k]}"` },
  { value: '/proc/olb', expected: (k) => `SPEC_FORMAT "/proc/olb" lies under /proc, a kernel pseudo file system, where no ${k} of overlay-lb belongs (and where directories cannot be made): use a path on a real file system, for example "${EXAMPLE[k]}"` },
  { value: '/sys/olb/x', expected: (k) => `SPEC_FORMAT "/sys/olb/x" lies under /sys, a kernel pseudo file system, where no ${k} of overlay-lb belongs (and where directories cannot be made): use a path on a real file system, for example "${EXAMPLE[k]}"` },
  { value: '/dev/olb', expected: (k) => `SPEC_FORMAT "/dev/olb" lies under /dev, a kernel pseudo file system, where no ${k} of overlay-lb belongs (and where directories cannot be made): use a path on a real file system, for example "${EXAMPLE[k]}"` },
  { value: 'run/olb', expected: (k) => `SPEC_FORMAT "run/olb" is not an absolute path: ${k} paths must start with '/', for example "${k === 'file' ? '/etc/overlay-lb/run/olb' : EXAMPLE[k]}"` },
];

function yq(value: string): string {
  return JSON.stringify(value);
}

for (const field of FIELDS) {
  for (const h of HOSTILE) {
    void test(`${field.path} rejects ${JSON.stringify(h.value)}`, () => {
      const r = parseSpec(field.yaml(yq(h.value)), { file: 't.yaml' });
      assert.equal(r.ok, false, 'expected a rejection');
      if (r.ok) return;
      assert.deepEqual(r.diagnostics.map((d) => `${d.code} ${d.message}`), [`${h.expected(field.kind)}`.replace(/^(\S+) /, `$1 ${field.path}: `)], r.diagnostics.map(formatDiagnostic).join('\n'));
    });
  }
}

void test('a socket path longer than 95 characters is rejected with the reason; 95 is accepted', () => {
  for (const field of FIELDS.filter((f) => f.kind === 'socket')) {
    const r = parseSpec(field.yaml(yq(LONG)), { file: 't.yaml' });
    assert.equal(r.ok, false);
    if (r.ok) continue;
    assert.deepEqual(r.diagnostics.map((d) => `${d.code} ${d.message}`), [
      `SPEC_RANGE ${field.path}: "${LONG}" is 101 characters long; a socket path may have at most 95 (a Unix socket path holds 107 bytes, and HAProxy binds "<path>.<pid>.tmp" first): choose a shorter path`,
    ]);
    const ok = `/run/${'y'.repeat(90)}`;
    assert.equal(ok.length, 95);
    assert.equal(parseSpec(field.yaml(yq(ok)), { file: 't.yaml' }).ok, true);
  }
});

void test('the runtime and master sockets must differ', () => {
  const r = parseSpec(spec({ admin: 'masterSocket: /run/overlay-lb/haproxy.sock' }), { file: 't.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    't.yaml:6:24: admin.masterSocket: the runtime socket and the master socket are both "/run/overlay-lb/haproxy.sock"; HAProxy binds them as two sockets: give each its own path, for example "/run/overlay-lb/haproxy-master.sock" for the master socket',
  ]);
});

/** Legal paths, odd but fine: every one must validate in every field and render as itself. */
const ACCEPTED = ['/run/overlay-lb/haproxy.sock', '/var/run/olb_2/a-b+c.d', '/x', '/run/.hidden/.s', '/A/B.../c_+-', '/srv/x...y'];

/** Every listening address a config declares: `stats socket`, `bind` words (comma lists split). */
function listeners(config: string): { line: string; address: string }[] {
  const out: { line: string; address: string }[] = [];
  for (const line of config.split('\n')) {
    const m = /^\s*(stats socket|bind)\s+(\S+)/.exec(line);
    if (m !== null) for (const address of (m[2] ?? '').split(',')) out.push({ line, address });
  }
  return out;
}

void test('accepted socket forms render as Unix sockets with mode 600: no network, abstract or fd socket; haproxy -c accepts them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-paths-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const path of ACCEPTED) {
    const master = `${path}-master`;
    const r = parseSpec(spec({ admin: `runtimeSocket: ${yq(path)}, masterSocket: ${yq(master)}, stateDir: ${yq(path)}` }), { file: 't.yaml' });
    assert.equal(r.ok, true, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
    if (!r.ok) continue;
    const mapDir = join(dir, 'maps');
    const out = renderHaproxy(r.spec, { node: 'lb-a', specHash: r.hash, mapDir });
    const sockets = listeners(out.config).filter((l) => l.line.trimStart().startsWith('stats socket'));
    assert.deepEqual(sockets.map((s) => s.address), [path], 'one admin socket, at the path');
    assert.ok(sockets.every((s) => s.line === `  stats socket ${path} mode 600 level admin expose-fd listeners`), sockets.map((s) => s.line).join('\n'));
    assert.ok(out.config.includes(`#   haproxy -W -S ${master},mode,600 -f <this file>`), 'the master socket as the agent starts it');
    // The only network listeners are the frontend's and the admin HTTP listeners on 127.0.0.1.
    const network = listeners(out.config).filter((l) => !l.address.startsWith('/'));
    assert.deepEqual(network.map((l) => l.address).sort(), ['127.0.0.1:8404', '127.0.0.1:8405', '192.168.100.10:443'].sort());
    const keepalived = renderKeepalived(r.spec, { node: 'lb-a', specHash: r.hash });
    assert.ok(keepalived.includes(`vrrp_notify_fifo ${path}/keepalived.fifo`), 'keepalived uses the state directory as written');
    const config = out.config;
    const check = await checkHaproxyConfig({ config, maps: out.maps, dir, mapDir, signal: AbortSignal.timeout(60_000) });
    assert.equal(check.ok, true, check.output);
  }
});

void test('accepted access-log socket forms render as one Unix-socket log target; haproxy -c accepts them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-paths-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const path of ACCEPTED) {
    const r = parseSpec(spec({ admin: `accessLog: { to: syslog, socket: ${yq(path)} }` }), { file: 't.yaml' });
    assert.equal(r.ok, true, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
    if (!r.ok) continue;
    const mapDir = join(dir, 'maps');
    const out = renderHaproxy(r.spec, { node: 'lb-a', specHash: r.hash, mapDir });
    const targets = out.config.split('\n').filter((l) => /^\s+log /.test(l) && l.trim() !== 'log global');
    assert.deepEqual(targets, [`  log ${path} len 8192 format rfc3164 local0`]);
    const check = await checkHaproxyConfig({ config: out.config, maps: out.maps, dir, mapDir, signal: AbortSignal.timeout(60_000) });
    assert.equal(check.ok, true, check.output);
  }
});

/** Address fields: HAProxy address syntax in any of them is not an IPv4 address. */
const ADDRESS_FIELDS: readonly { path: string; yaml: (q: string) => string; fix: string }[] = [
  { path: 'cluster.vip', yaml: (q) => spec().replace('vip: 192.168.100.10', `vip: ${q}`), fix: 'is not an IPv4 address, for example "10.0.1.10"' },
  { path: 'cluster.nodes[0].address', yaml: (q) => spec().replace('address: 10.0.1.10', `address: ${q}`), fix: 'is not an IPv4 address, for example "10.0.1.10"' },
  { path: 'cluster.vrrp.markerAddress', yaml: (q) => spec().replace('  nodes:', `  vrrp: { markerAddress: ${q} }\n  nodes:`), fix: 'is not an IPv4 address, for example "10.0.1.10"' },
  { path: 'frontends[0].binds[0].address', yaml: (q) => spec().replace('address: vip', `address: ${q}`), fix: 'is not a bind address: use vip, node or an IPv4 address' },
  { path: 'backends[0].servers[0].address', yaml: (q) => spec().replace('address: 10.0.11.11', `address: ${q}`), fix: 'is not an IPv4 address, for example "10.0.1.10"' },
];

void test('address fields reject HAProxy address syntax (ipv4@, abns@, unix@, fd@, a list, a port)', () => {
  for (const field of ADDRESS_FIELDS) {
    for (const value of ['10.0.0.1,ipv4@0.0.0.0', 'ipv4@10.0.0.1', '10.0.0.1:9999', 'unix@/run/x', 'abns@x', 'fd@3', '0.0.0.0/0']) {
      const r = parseSpec(field.yaml(yq(value)), { file: 't.yaml' });
      assert.equal(r.ok, false, `${field.path} accepted ${value}`);
      if (r.ok) continue;
      assert.deepEqual(r.diagnostics.map((d) => `${d.code} ${d.message}`), [`SPEC_FORMAT ${field.path}: ${JSON.stringify(value)} ${field.fix}`]);
    }
  }
});
