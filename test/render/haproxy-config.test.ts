/**
 * The typed HAProxy config (src/render/haproxy-config.ts): servers and spare slots are data that
 * match the spec, every file the config refers to is listed with its role, and the one serializer
 * gives the bytes of renderHaproxy (whose goldens pin the text).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHaproxy, renderHaproxyConfig } from '../../src/render/haproxy.js';
import { backendSection, sectionHeader, serializeHaproxyConfig, type ServerLine } from '../../src/render/haproxy-config.js';
import { GOLDEN_CASES } from './haproxy-cases.js';

const opts = (node: string): { node: string; specHash: string; mapDir: string } => ({ node, specHash: 'h', mapDir: '/var/lib/overlay-lb/maps' });

void test('typed config: every backend section holds its servers, then its spare slots, as data', () => {
  for (const c of GOLDEN_CASES) {
    const typed = renderHaproxyConfig(c.spec, opts(c.node));
    for (const be of c.spec.backends) {
      const section = backendSection(typed, be.name);
      assert.ok(section !== undefined, `${c.name}: backend ${be.name}`);
      const servers = section.lines.filter((l): l is ServerLine => l.kind === 'server');
      assert.deepEqual(
        servers.filter((s) => !s.spare).map((s) => [s.name, s.address, s.port, s.weight, s.backup, s.disabled]),
        be.servers.map((s) => [s.name, s.address, s.port, s.weight, s.backup, false]),
        `${c.name}: backend ${be.name} static servers`,
      );
      const spares = servers.filter((s) => s.spare);
      assert.deepEqual(spares.map((s) => s.name), Array.from({ length: be.spareSlots }, (_, i) => `olb-spare-${i + 1}`), `${c.name}: backend ${be.name} spare slots`);
      for (const s of spares) assert.deepEqual([s.address, s.port, s.weight, s.disabled], ['0.0.0.0', 0, 100, true]);
      for (const s of servers) assert.equal(s.check, be.healthCheck.type !== 'none');
    }
    // Only backends hold servers.
    for (const s of typed.sections) if (s.kind !== 'backend') assert.ok(s.lines.every((l) => l.kind !== 'server'), `${c.name}: ${sectionHeader(s)}`);
  }
});

void test('typed config: the serializer gives renderHaproxy\'s bytes and the map files it refers to, with their roles', () => {
  let roles = new Set<string>();
  // The tls case with certificates chosen by name: a crt-list beside the maps.
  const tls = GOLDEN_CASES.find((c) => c.name === 'tls');
  assert.ok(tls !== undefined);
  const sni = {
    ...tls,
    name: 'tls-sni',
    spec: {
      ...tls.spec,
      frontends: tls.spec.frontends.map((f, i) => (i > 0 ? f : { ...f, binds: f.binds.map((b) => (b.tls === undefined ? b : { ...b, tls: { ...b.tls, certificates: [], sni: { defaultCertificate: '/etc/overlay-lb/tls/web.pem', entries: [{ names: ['api.example.com'], certificate: '/etc/overlay-lb/tls/api.pem' }] } } })) })),
    },
  };
  for (const c of [...GOLDEN_CASES, sni]) {
    const typed = renderHaproxyConfig(c.spec, opts(c.node));
    const text = renderHaproxy(c.spec, opts(c.node));
    assert.equal(serializeHaproxyConfig(typed), text.config, c.name);
    assert.deepEqual(typed.maps.map((m) => ({ name: m.name, content: m.content })), text.maps, c.name);
    for (const m of typed.maps) {
      roles = roles.add(m.role);
      assert.ok(text.config.includes(`${typed.mapDir}/${m.name}`), `${c.name}: the config refers to ${m.name}`);
      if (m.role === 'crt-list') assert.ok(m.name.endsWith('.crt-list') && m.entries === undefined, m.name);
      else assert.deepEqual(m.entries?.map((e) => `${e.key} ${e.value}`), m.content.split('\n').filter((l) => l !== '' && !l.startsWith('#')), `${c.name}: ${m.name} entries as data`);
      if (m.role === 'switches') assert.equal(m.name, 'switches.map');
      if (m.role === 'split') assert.equal(m.match, 'range');
    }
  }
  assert.deepEqual([...roles].sort(), ['crt-list', 'run', 'split', 'switches'], 'the golden cases cover every role');
});
