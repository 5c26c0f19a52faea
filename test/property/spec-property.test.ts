/**
 * Property: every spec the generator (generate-spec.ts) produces passes `parseSpec`, renders
 * (haproxy.cfg with its map files, and keepalived.conf for every node), and the real tools accept
 * the result: `haproxy -c` and keepalived's config test (see checks.ts), for one node per spec
 * (the generator picks which; the configs of a spec's nodes differ only in per-node values).
 *
 * Seeded and reproducible: the seed is printed; rerun one failure with
 *   OLB_PROPERTY_SEED=<seed> OLB_PROPERTY_FIRST=<case> OLB_PROPERTY_CASES=1 node --test dist/test/property/spec-property.test.js
 * OLB_PROPERTY_CASES sets the number of specs (default 2000); a failing spec is written next to
 * the report as YAML. The checks run 3 at a time (2 cores: the tools are short-lived processes).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { renderKeepalived } from '../../src/render/keepalived.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { haproxyCheck, keepalivedBatchCheck } from './checks.js';
import { INTERFACES, generateSpec } from './generate-spec.js';

const env = process.env;
const SEED = env['OLB_PROPERTY_SEED'] === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(env['OLB_PROPERTY_SEED']);
const CASES = Number(env['OLB_PROPERTY_CASES'] ?? 2000);
const FIRST = Number(env['OLB_PROPERTY_FIRST'] ?? 0);
const CONCURRENCY = 3;
const BATCH = 40;

async function selfSignedPem(dir: string, signal: AbortSignal): Promise<string> {
  const key = join(dir, 'key.pem');
  const crt = join(dir, 'crt.pem');
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=overlay-lb-property'], { signal });
  return `${await readFile(crt, 'utf8')}${await readFile(key, 'utf8')}`;
}

/** Does the schema accept an ec2-tags source today? (The generator covers every source kind validate accepts.) */
function ec2TagsAccepted(): boolean {
  const yaml = `cluster: { name: t, vip: 192.168.100.10, nodes: [{ name: a, address: 10.0.0.1, zone: z }] }
frontends: [{ name: f, binds: [{ address: vip, port: 80 }], defaultBackend: b }]
backends: [{ name: b, discovery: { source: s } }]
discovery: [{ name: s, type: ec2-tags, tags: { app: web }, port: 80 }]
`;
  return parseSpec(yaml, { file: 'probe.yaml' }).ok;
}

interface Failure {
  readonly index: number;
  readonly stage: string;
  readonly detail: string;
  readonly file: string;
}

void test(`${CASES} generated valid specs validate, render and pass haproxy -c and keepalived's config test (seed ${SEED})`, { timeout: 1_200_000 }, async (t) => {
  process.stdout.write(`# property seed: OLB_PROPERTY_SEED=${SEED} (${CASES} specs from case ${FIRST})\n`);
  const signal = AbortSignal.timeout(1_100_000);
  const root = await mkdtemp(join(tmpdir(), 'olb-prop-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const pem = await selfSignedPem(root, signal);
  const ec2Tags = ec2TagsAccepted();
  const failures: Failure[] = [];
  const stats = { nodes: 0, routes: 0, maps: 0, certificates: 0 };
  // The layer-7 constructs of issue 21 the generated specs reached (each must, in a run of 200+).
  const layer7 = new Set<string>();
  const ms = { generate: 0, parse: 0, render: 0, haproxy: 0, keepalived: 0 };
  const clock = (): number => performance.now();

  const check = async (index: number, worker: number): Promise<void> => {
    // Certificates under the worker's own directory: no two checks in flight share a file.
    const certDir = join(root, `w${worker}-certs`);
    let t0 = clock();
    const g = generateSpec(SEED, index, { certDir, ec2Tags });
    ms.generate += clock() - t0;
    t0 = clock();
    const fail = async (stage: string, detail: string): Promise<void> => {
      const file = join(root, '..', `olb-property-failure-${SEED}-${index}.yaml`);
      await writeFile(file, g.yaml);
      failures.push({ index, stage, detail: detail.slice(0, 4000), file });
    };
    const parsed = parseSpec(g.yaml, { file: `case-${index}.yaml` });
    ms.parse += clock() - t0;
    if (!parsed.ok) return fail('parseSpec', parsed.diagnostics.map(formatDiagnostic).join('\n'));
    const dir = join(root, `w${worker}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await rm(certDir, { recursive: true, force: true });
    for (const c of g.certificates) {
      await mkdir(dirname(c), { recursive: true });
      await writeFile(c, pem, { mode: 0o600 });
    }
    const mapDir = join(dir, 'maps');
    let haproxy;
    let keepalived = '';
    t0 = clock();
    try {
      haproxy = renderHaproxy(parsed.spec, { node: g.node, specHash: parsed.hash, mapDir });
      for (const n of parsed.spec.cluster.nodes) {
        const text = renderKeepalived(parsed.spec, { node: n.name, specHash: parsed.hash });
        if (n.name === g.node) keepalived = text;
      }
    } catch (e) {
      return fail('render', (e as Error).stack ?? String(e));
    }
    ms.render += clock() - t0;
    for (const f of parsed.spec.frontends) {
      for (const r of f.routes) {
        if (r.action.kind === 'redirect' || r.action.kind === 'respond') layer7.add(r.action.kind);
        if (r.action.kind === 'split' && r.action.stickyCookie !== undefined) layer7.add('split stickyCookie');
        if (r.requestHeaders !== undefined) layer7.add('requestHeaders');
        if (r.responseHeaders !== undefined) layer7.add('responseHeaders');
        if (r.timeoutMs !== undefined) layer7.add('timeout');
        for (const c of r.conditions) if (c.kind === 'query' || c.kind === 'cookie') layer7.add(`${c.kind} condition`);
      }
    }
    if (parsed.spec.backends.some((b) => b.stickyCookie !== undefined)) layer7.add('backend stickyCookie');
    stats.nodes += parsed.spec.cluster.nodes.length;
    stats.routes += parsed.spec.frontends.reduce((a, f) => a + f.routes.length, 0);
    stats.maps += haproxy.maps.length;
    stats.certificates += g.certificates.length;
    t0 = clock();
    const h = await haproxyCheck({ config: haproxy.config, maps: haproxy.maps, dir, mapDir, signal });
    ms.haproxy += clock() - t0;
    if (!h.ok) return fail('haproxy -c', h.output);
    const batch = pending[worker];
    batch?.push({ index, text: keepalived, fail });
    if (batch !== undefined && batch.length >= BATCH) await flush(worker);
  };

  // keepalived checks run in batches, one private network namespace per batch (see checks.ts).
  type Pending = { index: number; text: string; fail: (stage: string, detail: string) => Promise<void> };
  const pending: Pending[][] = Array.from({ length: CONCURRENCY }, () => []);
  const flush = async (worker: number): Promise<void> => {
    const batch = pending[worker]?.splice(0) ?? [];
    if (batch.length === 0) return;
    const t0 = clock();
    const verdicts = await keepalivedBatchCheck({ texts: batch.map((b) => b.text), interfaces: [...INTERFACES, 'eth0'], dir: join(root, `k${worker}`), signal });
    ms.keepalived += clock() - t0;
    for (const [i, b] of batch.entries()) {
      const v = verdicts[i];
      if (v === undefined || !v.ok) await b.fail('keepalived --config-test', v?.output ?? 'no verdict');
    }
  };

  let next = FIRST;
  const last = FIRST + CASES;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (next < last && failures.length < 5) {
        const index = next++;
        await check(index, worker);
      }
      await flush(worker);
    }),
  );
  process.stdout.write(`# property: ${CASES} specs, ${stats.nodes} nodes, ${stats.routes} routes, ${stats.maps} map files, ${stats.certificates} certificates; wall ms summed over workers: ${Object.entries(ms).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')}\n`);
  const report = failures
    .sort((a, b) => a.index - b.index)
    .map((f) => `case ${f.index} (${f.stage}; reproduce: OLB_PROPERTY_SEED=${SEED} OLB_PROPERTY_FIRST=${f.index} OLB_PROPERTY_CASES=1; spec: ${f.file}):\n${f.detail}`)
    .join('\n\n');
  assert.equal(failures.length, 0, report);
  const all = ['redirect', 'respond', 'split stickyCookie', 'backend stickyCookie', 'requestHeaders', 'responseHeaders', 'timeout', 'query condition', 'cookie condition'];
  if (CASES >= 200) assert.deepEqual(all.filter((k) => !layer7.has(k)), [], 'layer-7 constructs the generator never produced');
});
