/**
 * Golden tests of the HAProxy renderer: exact bytes of haproxy.cfg and every map file, and every
 * golden config accepted by the real `haproxy -c` without a warning.
 * Rewrite the goldens with UPDATE_GOLDEN=1 (then review the diff).
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Spec, Tls } from '../../src/model/spec.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { checkHaproxyConfig } from '../helpers/haproxy-check.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { GOLDEN_CASES, type GoldenCase } from './haproxy-cases.js';

// dist/test/render -> repository root
const GOLDEN_DIR = fileURLToPath(new URL('../../../test/golden/haproxy/', import.meta.url));
const GOLDEN_MAP_DIR = '/var/lib/overlay-lb/maps';
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const update = process.env['UPDATE_GOLDEN'] === '1';

function modelHash(spec: Spec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

interface Case extends GoldenCase {
  readonly hash: string;
}

/** YAML cases: examples/demo.yaml, and every test/golden/haproxy/<case>/spec.yaml (node: the first). */
async function yamlCases(): Promise<Case[]> {
  const files: [string, string][] = [['example-demo', join(REPO, 'examples/demo.yaml')]];
  for (const name of await readDirOrEmpty(GOLDEN_DIR)) {
    const file = join(GOLDEN_DIR, name, 'spec.yaml');
    if (await readFile(file, 'utf8').then(() => true, () => false)) files.push([name, file]);
  }
  const out: Case[] = [];
  for (const [name, file] of files) {
    const parsed = parseSpec(await readFile(file, 'utf8'), { file });
    if (!parsed.ok) throw new Error(`${file} does not parse: ${parsed.diagnostics.map((d) => d.message).join('; ')}`);
    const node = parsed.spec.cluster.nodes[0]?.name ?? '';
    out.push({ name, node, spec: parsed.spec, hash: parsed.hash });
  }
  return out;
}

/** Every TLS certificate path replaced by `pem` (haproxy -c loads certificates). */
function withCertificate(spec: Spec, pem: string): Spec {
  return {
    ...spec,
    frontends: spec.frontends.map((fe) => ({
      ...fe,
      binds: fe.binds.map((b) => (b.tls === undefined ? b : { ...b, tls: withPem(b.tls, pem) })),
    })),
  };
}

function withPem(tls: Tls, pem: string): Tls {
  const cc = tls.clientCertificate;
  return {
    ...tls,
    certificates: tls.certificates.map(() => pem),
    ...(tls.sni === undefined ? {} : { sni: { defaultCertificate: pem, entries: tls.sni.entries.map((e) => ({ ...e, certificate: pem })) } }),
    // A self-signed certificate is its own CA bundle.
    ...(cc === undefined ? {} : { clientCertificate: { ...cc, ca: pem } }),
  };
}

async function selfSignedPem(dir: string, signal: AbortSignal): Promise<string> {
  const key = join(dir, 'key.pem');
  const crt = join(dir, 'crt.pem');
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=overlay-lb-test'], { signal });
  const pem = join(dir, 'test.pem');
  await writeFile(pem, `${await readFile(crt, 'utf8')}${await readFile(key, 'utf8')}`, { mode: 0o600 });
  return pem;
}

async function readDirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

const cases: Case[] = [...GOLDEN_CASES.map((c) => ({ ...c, hash: modelHash(c.spec) })), ...(await yamlCases())];

for (const c of cases) {
  void test(`golden ${c.name}: bytes match and haproxy -c accepts it`, async (t) => {
    const signal = AbortSignal.timeout(60_000);
    const hash = c.hash;
    const rendered = renderHaproxy(c.spec, { node: c.node, specHash: hash, mapDir: GOLDEN_MAP_DIR });
    const again = renderHaproxy(c.spec, { node: c.node, specHash: hash, mapDir: GOLDEN_MAP_DIR });
    assert.deepEqual(again, rendered, 'rendering twice gives the same bytes');

    const caseDir = join(GOLDEN_DIR, c.name);
    const mapsDir = join(caseDir, 'maps');
    if (update) {
      await rm(join(caseDir, 'haproxy.cfg'), { force: true });
      await rm(mapsDir, { recursive: true, force: true });
      await mkdir(mapsDir, { recursive: true });
      await writeFile(join(caseDir, 'haproxy.cfg'), rendered.config);
      for (const m of rendered.maps) await writeFile(join(mapsDir, m.name), m.content);
    }
    assert.equal(rendered.config, await readFile(join(caseDir, 'haproxy.cfg'), 'utf8'), `haproxy.cfg of ${c.name} differs from the golden (UPDATE_GOLDEN=1 to rewrite)`);
    assert.deepEqual(rendered.maps.map((m) => m.name), await readDirOrEmpty(mapsDir), 'the set of map files');
    for (const m of rendered.maps) assert.equal(m.content, await readFile(join(mapsDir, m.name), 'utf8'), `map ${m.name} of ${c.name}`);

    const dir = await mkdtemp(join(tmpdir(), 'olb-golden-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const hasTls = c.spec.frontends.some((fe) => fe.binds.some((b) => b.tls !== undefined));
    const spec = hasTls ? withCertificate(c.spec, await selfSignedPem(dir, signal)) : c.spec;
    const mapDir = join(dir, 'maps');
    const forCheck = renderHaproxy(spec, { node: c.node, specHash: hash, mapDir });
    const result = await checkHaproxyConfig({ config: forCheck.config, maps: forCheck.maps, dir, mapDir, signal });
    assert.equal(result.ok, true, `haproxy -c rejected ${c.name}:\n${result.output}`);
    assert.deepEqual(result.warnings, [], `haproxy -c warned on ${c.name}:\n${result.output}`);
  });
}
