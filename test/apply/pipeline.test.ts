import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApplyPipeline, type ApplyPipeline } from '../../src/apply/pipeline.js';
import { createApplyMetrics } from '../../src/apply/metrics.js';
import { haproxyPaths } from '../../src/haproxy/config-writer.js';
import { createLogger, type Logger } from '../../src/util/log.js';
import { Registry } from '../../src/util/metrics.js';
import { get, tally } from '../haproxy/fixture.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { liveSpares, NODE, parse, reloads, specYaml, startNode, waitFor, writeServers, type Node, type SpecParams } from './fixture.js';

const AGG = { minWaitMs: 50, maxWaitMs: 500 };

function collectingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: createLogger({ write: (l) => lines.push(l), level: 'debug' }) };
}

function startPipeline(t: { after: (fn: () => Promise<void>) => void }, node: Node, options: { readonly log?: Logger; readonly registry?: Registry; readonly spec?: Partial<SpecParams> } = {}): { pipeline: ApplyPipeline; stop: () => Promise<void>; registry: Registry } {
  const registry = options.registry ?? new Registry();
  const { spec, hash } = parse(specYaml({ ...node.params, ...options.spec }));
  const pipeline = createApplyPipeline({
    spec,
    specHash: hash,
    node: NODE,
    runDir: node.dir,
    haproxy: { runtime: node.runtime, reloader: node.haproxy },
    log: options.log ?? collectingLog().log,
    metrics: createApplyMetrics(registry),
    aggregator: AGG,
    retry: { minMs: 100, maxMs: 1000 },
  });
  const ctl = new AbortController();
  const running = pipeline.run(ctl.signal);
  const stop = async (): Promise<void> => {
    ctl.abort();
    await running;
  };
  t.after(stop);
  return { pipeline, stop, registry };
}

const fileSource = (dir: string): string => `{ name: svc-src, type: file, path: ${join(dir, 'svc.json')} }`;
const srv = (node: Node, ...names: string[]): { address: string; port: number }[] => names.map((n) => ({ address: '127.0.0.1', port: node.backends.portOf(n) }));

async function settled(pipeline: ApplyPipeline, generation: number, signal: AbortSignal): Promise<void> {
  await waitFor(`generation ${generation} applied`, () => (pipeline.status().appliedGeneration >= generation && !pipeline.status().pending && !pipeline.status().applying ? true : undefined), { signal });
}

void test('file source: membership changes reach show servers state and traffic without a reload; bad data changes nothing', async (t) => {
  const signal = AbortSignal.timeout(60_000);
  const node = await startNode(t, { signal, source: fileSource });
  const file = join(node.dir, 'svc.json');
  await writeServers(file, srv(node, 's1', 's2'));
  const { pipeline } = startPipeline(t, node);
  await settled(pipeline, 1, signal);
  assert.deepEqual(await liveSpares(node, 'svc', signal), srv(node, 's1', 's2').map((s) => `${s.address}:${s.port}`).sort());
  const counts = await tally(node.params.port, 8, { signal });
  assert.deepEqual(Object.keys(counts).sort(), ['s1', 's2']);

  // WHEN servers come and go (within the spare slots)
  const before = await reloads(node, signal);
  await writeServers(file, srv(node, 's2', 's3', 's4'));
  await settled(pipeline, 2, signal);
  // THEN haproxy serves exactly the new set, and the master did not reload
  assert.deepEqual(await liveSpares(node, 'svc', signal), srv(node, 's2', 's3', 's4').map((s) => `${s.address}:${s.port}`).sort());
  assert.deepEqual(Object.keys(await tally(node.params.port, 12, { signal })).sort(), ['s2', 's3', 's4']);
  assert.equal(await reloads(node, signal), before);
  assert.equal(pipeline.status().lastApply?.result.kind, 'runtime');

  // WHEN the source returns garbage, THEN nothing changes and the source is stale
  await writeServers(file, '[{"address": "not-an-ip", "port": 80}]');
  await waitFor('source stale', () => (pipeline.status().sources.find((s) => s.name === 'svc-src')?.state === 'stale' ? true : undefined), { signal });
  assert.equal(pipeline.status().publishedGeneration, 2);
  assert.deepEqual(Object.keys(await tally(node.params.port, 6, { signal })).sort(), ['s2', 's3', 's4']);
  assert.equal(await reloads(node, signal), before);
});

void test('a burst of changes coalesces into few applies, and the last one wins', async (t) => {
  const signal = AbortSignal.timeout(60_000);
  const node = await startNode(t, { signal, source: fileSource });
  const file = join(node.dir, 'svc.json');
  await writeServers(file, srv(node, 's1'));
  const { pipeline } = startPipeline(t, node);
  await settled(pipeline, 1, signal);
  const applies = pipeline.status().counts.applies;
  const before = await reloads(node, signal);
  // Ten writes 5 ms apart: inside one debounce window (50 ms quiet time).
  const sets = [['s1', 's2'], ['s2'], ['s2', 's3'], ['s3'], ['s3', 's4'], ['s4'], ['s4', 's5'], ['s5'], ['s5', 's6'], ['s1', 's6']];
  for (const names of sets) {
    await writeServers(file, srv(node, ...names));
    await new Promise((r) => setTimeout(r, 5));
  }
  await waitFor('last set live', async () => ((await liveSpares(node, 'svc', signal)).join() === srv(node, 's1', 's6').map((s) => `${s.address}:${s.port}`).sort().join() ? true : undefined), { signal });
  await pipeline.idle(signal);
  assert.ok(pipeline.status().counts.applies - applies < sets.length, `expected coalescing, got ${pipeline.status().counts.applies - applies} applies for ${sets.length} writes`);
  assert.equal(await reloads(node, signal), before);
});

void test('spare slots exhausted: exactly one reload with more slots, then every server serves', async (t) => {
  const signal = AbortSignal.timeout(60_000);
  const node = await startNode(t, { signal, source: fileSource, spec: { spareSlots: 2 } });
  const file = join(node.dir, 'svc.json');
  await writeServers(file, srv(node, 's1', 's2'));
  const { pipeline } = startPipeline(t, node);
  await settled(pipeline, 1, signal);
  const before = await reloads(node, signal);
  await writeServers(file, srv(node, 's1', 's2', 's3'));
  await settled(pipeline, 2, signal);
  assert.equal(await reloads(node, signal), before + 1);
  const last = pipeline.status().lastApply?.result;
  assert.equal(last?.kind, 'reloaded');
  assert.ok(last.reasons.some((r) => r.code === 'spare-slots-exhausted' && r.subject === 'backend svc'), JSON.stringify(last.reasons));
  assert.equal((await node.runtime.showServersState('svc', { signal })).filter((r) => r.server.startsWith('olb-spare-')).length, 4);
  assert.deepEqual(Object.keys(await tally(node.params.port, 9, { signal })).sort(), ['s1', 's2', 's3']);
  // The file on disk holds the discovered servers too: a reload or restart serves them at once.
  const cfg = await readFile(haproxyPaths(node.dir).config, 'utf8');
  for (const s of srv(node, 's1', 's2', 's3')) assert.match(cfg, new RegExp(`server olb-spare-\\d+ 127\\.0\\.0\\.1:${s.port} weight 100`));
});

void test('spec changes: blue/green flip and split weights without a reload; a timeout change is exactly one reload; restart with persisted state changes nothing', async (t) => {
  const signal = AbortSignal.timeout(90_000);
  const node = await startNode(t, { signal, source: fileSource });
  const file = join(node.dir, 'svc.json');
  await writeServers(file, srv(node, 's1'));
  const first = startPipeline(t, node);
  const { pipeline } = first;
  await settled(pipeline, 1, signal);
  assert.equal((await get(node.params.port, { signal, path: '/checkout' })).body, 'blue');
  const before = await reloads(node, signal);

  // Blue/green flip: one `set map`, no reload.
  const flipped = parse(specYaml({ ...node.params, active: 'green' }));
  const r1 = await pipeline.applySpec(flipped.spec, flipped.hash);
  assert.equal(r1.result.kind, 'runtime');
  assert.ok(r1.result.reasons.some((r) => r.code === 'switch-flipped'));
  assert.equal((await get(node.params.port, { signal, path: '/checkout' })).body, 'green');

  // Split 0/100: the whole split map swaps atomically, no reload.
  const split = parse(specYaml({ ...node.params, active: 'green', split: [0, 100] }));
  const r2 = await pipeline.applySpec(split.spec, split.hash);
  assert.equal(r2.result.kind, 'runtime');
  assert.deepEqual(await tally(node.params.port, 10, { signal, headers: { 'x-beta': '1' } }), { green: 10 });
  assert.equal(await reloads(node, signal), before);
  // The file on disk holds the desired config for runtime changes too.
  assert.match(await readFile(join(haproxyPaths(node.dir).mapDir, 'switches.map'), 'utf8'), /checkout green/);

  // A structural change: exactly one reload, with its reason; discovered servers come back.
  const slow = parse(specYaml({ ...node.params, active: 'green', split: [0, 100], serverTimeout: '45s' }));
  const r3 = await pipeline.applySpec(slow.spec, slow.hash);
  assert.equal(r3.result.kind, 'reloaded');
  assert.ok(r3.result.reasons.some((r) => r.code === 'structure-changed' && r.subject.includes('svc')), JSON.stringify(r3.result.reasons));
  assert.equal(await reloads(node, signal), before + 1);
  assert.deepEqual(await tally(node.params.port, 3, { signal }), { s1: 3 });
  const hash = pipeline.status().configHash;
  assert.match(hash ?? '', /^[0-9a-f]{64}$/);

  // Restart: same spec, persisted applied state -> no reload, no change.
  await first.stop();
  const again = startPipeline(t, node, { spec: { active: 'green', split: [0, 100], serverTimeout: '45s' } });
  await waitFor('first apply after restart', () => again.pipeline.status().lastApply, { signal });
  assert.equal(again.pipeline.status().lastApply?.result.kind, 'noop');
  assert.equal(again.pipeline.status().configHash, hash);
  assert.equal(await reloads(node, signal), before + 1);
  assert.deepEqual(await tally(node.params.port, 3, { signal }), { s1: 3 });
});

void test('a Runtime API command that fails falls back to one reload, never a half-applied state', async (t) => {
  const signal = AbortSignal.timeout(60_000);
  const node = await startNode(t, { signal, source: fileSource });
  const file = join(node.dir, 'svc.json');
  await writeServers(file, srv(node, 's1', 's2'));
  const { log, lines } = collectingLog();
  const { pipeline, registry } = startPipeline(t, node, { log });
  await settled(pipeline, 1, signal);

  // GIVEN haproxy runs a hand-edited config that no longer knows switches.map (its discovered
  // servers are gone too: a reload empties spare slots)
  const cfgPath = haproxyPaths(node.dir).config;
  const good = await readFile(cfgPath, 'utf8');
  await writeFile(cfgPath, good.split('\n').filter((l) => !l.includes('switches.map')).join('\n'));
  const hand = await node.haproxy.reload({ signal });
  assert.equal(hand.ok, true);
  await writeFile(cfgPath, good);
  const before = await reloads(node, signal);

  // WHEN a switch flip is applied (the planner's `set map switches.map` fails)
  const flipped = parse(specYaml({ ...node.params, active: 'green' }));
  const r = await pipeline.applySpec(flipped.spec, flipped.hash);

  // THEN one reload loads the full desired config, discovered servers are put back
  assert.equal(r.result.kind, 'fell-back-to-reload', JSON.stringify(r.result));
  assert.match(r.result.kind === 'fell-back-to-reload' ? r.result.error.message : '', /switches\.map/);
  assert.equal(await reloads(node, signal), before + 1);
  assert.equal((await get(node.params.port, { signal, path: '/checkout' })).body, 'green');
  assert.deepEqual(Object.keys(await tally(node.params.port, 8, { signal })).sort(), ['s1', 's2']);
  assert.ok(lines.some((l) => l.includes('runtime operation failed; reloading instead')));
  assert.match(registry.render(), /overlay_lb_apply_runtime_fallbacks_total 1/);
});

void test('etcd source: changes reach traffic; a dead etcd keeps the backend serving', async (t) => {
  const signal = AbortSignal.timeout(90_000);
  const etcdDir = await mkdtemp(join(tmpdir(), 'olb-apply-etcd-'));
  t.after(() => rm(etcdDir, { recursive: true, force: true }));
  const etcd = await startEtcd({ dir: etcdDir, signal });
  t.after(() => etcd.kill());
  const node = await startNode(t, { signal, source: () => `{ name: svc-src, type: etcd, endpoints: ["${etcd.clientUrl}"], prefix: /svc/ }` });
  await etcd.put('/svc/a', JSON.stringify({ address: '127.0.0.1', port: node.backends.portOf('s1') }));
  const { pipeline } = startPipeline(t, node);
  await settled(pipeline, 1, signal);
  assert.deepEqual(await tally(node.params.port, 4, { signal }), { s1: 4 });
  const before = await reloads(node, signal);

  await etcd.put('/svc/b', JSON.stringify({ address: '127.0.0.1', port: node.backends.portOf('s2') }));
  await settled(pipeline, 2, signal);
  assert.deepEqual(Object.keys(await tally(node.params.port, 6, { signal })).sort(), ['s1', 's2']);

  await etcd.kill();
  await waitFor('etcd source stale', () => (pipeline.status().sources[0]?.state === 'stale' ? true : undefined), { signal });
  assert.deepEqual(Object.keys(await tally(node.params.port, 6, { signal })).sort(), ['s1', 's2']);
  assert.equal(pipeline.status().appliedGeneration, 2);
  assert.equal(await reloads(node, signal), before);
});
