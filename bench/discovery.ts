/**
 * Benchmark: backend updates from service discovery under load, overlay-lb's pipeline (Runtime
 * API, reload only for structural changes) side by side with a consul-template style baseline
 * (render the whole file with the servers in it and reload on every change), same haproxy
 * binary, same config shape, same wrk load; then discovery-to-traffic latency for the file and
 * etcd sources.
 *
 *   membership: STEPS publications, each removing 2 and adding 2 servers of a 12-server pool
 *               (4 membership changes each: 1,000 changes for 250 steps)
 *   structural: RELOADS spec changes of a backend timeout (one reload each, for both)
 *   latency:    a server appears in the source -> the first request it serves (p50/p99), with
 *               the aggregator's default debounce (min 200 ms, max 2 s)
 *
 * Usage: node dist/bench/discovery.js [--steps 250] [--reloads 50] [--samples 25] [--out bench/results/discovery.json]
 * Traffic goes to 127.0.0.1 only; every phase is bounded in count and time.
 */
import { mkdtemp, rm, rename, writeFile } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseSpec } from '../src/speclang/parse.js';
import type { Spec } from '../src/model/spec.js';
import { desiredState } from '../src/plan/state.js';
import { renderForState } from '../src/apply/executor.js';
import { createApplyPipeline, type ApplyPipeline } from '../src/apply/pipeline.js';
import { applyConfig, haproxyPaths } from '../src/haproxy/config-writer.js';
import { startHaproxy, type HaproxyProcess } from '../src/haproxy/process.js';
import { RuntimeApi } from '../src/haproxy/runtime-api.js';
import { renderHaproxy } from '../src/render/haproxy.js';
import { writeFileAtomic } from '../src/util/fs-atomic.js';
import { silentLogger } from '../src/util/log.js';
import { runCommand } from '../src/util/exec.js';
import { findFreePort } from '../test/helpers/haproxy-process.js';
import { startEtcd } from '../test/helpers/etcd-server.js';
import { nowMs, startTimedBackends, type TimedBackend } from './lib/timed-backends.js';
import { startWrk } from './lib/wrk-until.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '250' }, reloads: { type: 'string', default: '50' }, samples: { type: 'string', default: '25' }, out: { type: 'string', default: 'bench/results/discovery.json' } } });
const STEPS = Number(values.steps);
const RELOADS = Number(values.reloads);
const SAMPLES = Number(values.samples);
const POOL = 12;
const WINDOW = 8;
const NODE = 'lb-a';
const signal = AbortSignal.timeout(600_000);

interface Ports { readonly port: number; readonly stats: number; readonly health: number; readonly agent: number }

function specText(dir: string, ports: Ports, svc: string, timeout: string): string {
  return `version: 1
cluster:
  name: bench
  vip: 192.0.2.10
  nodes: [{ name: ${NODE}, address: 127.0.0.1, zone: az-a }]
  cloud: { provider: none }
admin:
  stats: { bind: localhost, port: ${ports.stats} }
  health: { bind: localhost, port: ${ports.health} }
  agent: { bind: localhost, port: ${ports.agent} }
  runtimeSocket: ${dir}/haproxy.sock
  masterSocket: ${dir}/master.sock
  stateDir: ${dir}
frontends:
  - name: web
    binds: [{ address: 127.0.0.1, port: ${ports.port} }]
    accessLog: false
    defaultBackend: svc
backends:
  - name: svc
    healthCheck: { type: none }
    timeouts: { server: ${timeout} }
${svc}`;
}

function parse(text: string): { spec: Spec; hash: string } {
  const r = parseSpec(text, { file: 'bench.yaml' });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return { spec: r.spec, hash: r.hash };
}

async function ports(): Promise<Ports> {
  const f = (): Promise<number> => findFreePort({ host: '127.0.0.1', signal });
  return { port: await f(), stats: await f(), health: await f(), agent: await f() };
}

async function startNodeHaproxy(dir: string, spec: Spec, hash: string): Promise<HaproxyProcess> {
  const empty = desiredState(spec, new Map(), { node: NODE, specHash: hash, mapDir: haproxyPaths(dir).mapDir });
  await applyConfig({ dir, ...renderForState(spec, empty, dir) }, { signal, reload: null, reason: 'bench start' });
  return startHaproxy({ configPath: haproxyPaths(dir).config, masterSocket: join(dir, 'master.sock'), pidFile: join(dir, 'haproxy.pid'), signal });
}

const windowAt = (pool: readonly TimedBackend[], step: number): TimedBackend[] => Array.from({ length: WINDOW }, (_, i) => pool[(2 * step + i) % POOL] as TimedBackend);
const asServers = (list: readonly TimedBackend[]): { address: string; port: number }[] => list.map((b) => ({ address: '127.0.0.1', port: b.port }));

async function writeJson(path: string, data: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(data));
  await rename(`${path}.tmp`, path);
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (let i = 0; i < timeoutMs / 5; i++) {
    if (check()) return;
    await sleep(5, undefined, { signal });
  }
  throw new Error(`timed out: ${what}`);
}

async function masterReloads(h: HaproxyProcess): Promise<number> {
  return (await h.master.showProc({ signal })).master.reloads;
}

interface PhaseResult { readonly changes: number; readonly steps: number; readonly reloads: number; readonly seconds: number; readonly requests: number; readonly failedRequests: number; readonly socketErrors: number; readonly non2xx: number; readonly rps: number; readonly p99Ms: number }

/** Runs `body` under wrk and reports the failed requests and reloads it caused. */
async function underLoad(h: HaproxyProcess, port: number, body: () => Promise<{ changes: number; steps: number }>): Promise<PhaseResult> {
  const before = await masterReloads(h);
  const wrk = startWrk({ url: `http://127.0.0.1:${port}/`, connections: 16, threads: 2, maxSeconds: 240 });
  await sleep(500);
  const t0 = nowMs();
  const done = await body();
  const seconds = (nowMs() - t0) / 1000;
  await sleep(500);
  const w = await wrk.stop();
  return { ...done, reloads: (await masterReloads(h)) - before, seconds: round(seconds), requests: w.requests, failedRequests: w.errors + w.non2xx, socketErrors: w.errors, non2xx: w.non2xx, rps: Math.round(w.requestsPerSec), p99Ms: w.p99Ms };
}

async function ours(pool: readonly TimedBackend[]): Promise<{ membership: PhaseResult; structural: PhaseResult; runtimeApplies: number; fallbacks: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'olb-bench-ours-'));
  const p = await ports();
  const file = join(dir, 'svc.json');
  const svc = `    discovery: { source: src }\n    spareSlots: 16\ndiscovery:\n  - { name: src, type: file, path: ${file} }\n`;
  await writeJson(file, asServers(windowAt(pool, 0)));
  const first = parse(specText(dir, p, svc, '30s'));
  const h = await startNodeHaproxy(dir, first.spec, first.hash);
  const ctl = new AbortController();
  const pipeline = createApplyPipeline({
    spec: first.spec, specHash: first.hash, node: NODE, runDir: dir,
    haproxy: { runtime: new RuntimeApi({ socketPath: join(dir, 'haproxy.sock') }), reloader: h },
    log: silentLogger,
    // Short debounce so each step is its own publication (the point is to count applies).
    aggregator: { minWaitMs: 5, maxWaitMs: 50, maxRemovalShare: 1 },
  });
  const running = pipeline.run(AbortSignal.any([signal, ctl.signal]));
  try {
    await until('initial apply', () => pipeline.status().appliedGeneration >= 1);
    const membership = await underLoad(h, p.port, async () => {
      let changes = 0;
      for (let step = 1; step <= STEPS; step++) {
        const gen = pipeline.status().publishedGeneration;
        await writeJson(file, asServers(windowAt(pool, step)));
        await until(`step ${step} applied`, () => pipeline.status().appliedGeneration > gen && !pipeline.status().applying && !pipeline.status().pending);
        changes += 4;
      }
      return { changes, steps: STEPS };
    });
    const structural = await underLoad(h, p.port, async () => {
      for (let i = 1; i <= RELOADS; i++) {
        const next = parse(specText(dir, p, svc, `${30 + (i % 2)}s`));
        const r = await pipeline.applySpec(next.spec, next.hash);
        if (r.result.kind !== 'reloaded') throw new Error(`structural change ${i}: ${JSON.stringify(r.result)}`);
      }
      return { changes: RELOADS, steps: RELOADS };
    });
    const s = pipeline.status();
    return { membership, structural, runtimeApplies: s.counts.runtime, fallbacks: s.counts.fallbacks };
  } finally {
    ctl.abort();
    await running;
    await h.stop({ signal: AbortSignal.timeout(30_000), graceMs: 0 });
    await rm(dir, { recursive: true, force: true });
  }
}

async function baseline(pool: readonly TimedBackend[]): Promise<{ membership: PhaseResult; structural: PhaseResult }> {
  const dir = await mkdtemp(join(tmpdir(), 'olb-bench-baseline-'));
  const p = await ports();
  const staticSvc = (list: readonly TimedBackend[]): string => `    servers:\n${list.map((b) => `      - { name: m${b.port}, address: 127.0.0.1, port: ${b.port} }`).join('\n')}\n`;
  const first = parse(specText(dir, p, staticSvc(windowAt(pool, 0)), '30s'));
  const h = await startNodeHaproxy(dir, first.spec, first.hash);
  // consul-template: render the whole file, write it, reload (here: verified, so one at a time).
  const renderAndReload = async (text: string): Promise<void> => {
    const { spec, hash } = parse(text);
    const out = renderHaproxy(spec, { node: NODE, specHash: hash, mapDir: haproxyPaths(dir).mapDir });
    await writeFileAtomic(haproxyPaths(dir).config, out.config, { signal });
    const r = await h.reload({ signal });
    if (!r.ok) throw new Error(`baseline reload failed: ${r.detail}`);
  };
  try {
    const membership = await underLoad(h, p.port, async () => {
      for (let step = 1; step <= STEPS; step++) await renderAndReload(specText(dir, p, staticSvc(windowAt(pool, step)), '30s'));
      return { changes: STEPS * 4, steps: STEPS };
    });
    const structural = await underLoad(h, p.port, async () => {
      for (let i = 1; i <= RELOADS; i++) await renderAndReload(specText(dir, p, staticSvc(windowAt(pool, STEPS)), `${30 + (i % 2)}s`));
      return { changes: RELOADS, steps: RELOADS };
    });
    return { membership, structural };
  } finally {
    await h.stop({ signal: AbortSignal.timeout(30_000), graceMs: 0 });
    await rm(dir, { recursive: true, force: true });
  }
}

interface LatencyResult { readonly samples: number; readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number; readonly minDebounceMs: number; readonly p99BeyondDebounceMs: number }

/** A server appears in the source -> the first request it serves, under light wrk load. */
async function latency(kind: 'file' | 'etcd', pool: readonly TimedBackend[]): Promise<LatencyResult> {
  const dir = await mkdtemp(join(tmpdir(), `olb-bench-lat-${kind}-`));
  const p = await ports();
  const file = join(dir, 'svc.json');
  const etcd = kind === 'etcd' ? await startEtcd({ dir, signal }) : undefined;
  const source = kind === 'file' ? `{ name: src, type: file, path: ${file} }` : `{ name: src, type: etcd, endpoints: ["${etcd?.clientUrl ?? ''}"], prefix: /svc/ }`;
  const base = pool.slice(0, 2);
  const candidates = pool.slice(2, 6);
  const publish = async (list: readonly TimedBackend[]): Promise<void> => {
    if (kind === 'file') return writeJson(file, asServers(list));
    for (const b of pool) if (!list.includes(b)) await etcd?.del(`/svc/${b.name}`);
    for (const b of list) await etcd?.put(`/svc/${b.name}`, JSON.stringify({ address: '127.0.0.1', port: b.port }));
  };
  await publish(base);
  const svc = `    discovery: { source: src }\n    spareSlots: 8\ndiscovery:\n  - ${source}\n`;
  const first = parse(specText(dir, p, svc, '30s'));
  const h = await startNodeHaproxy(dir, first.spec, first.hash);
  const ctl = new AbortController();
  const pipeline: ApplyPipeline = createApplyPipeline({
    spec: first.spec, specHash: first.hash, node: NODE, runDir: dir,
    haproxy: { runtime: new RuntimeApi({ socketPath: join(dir, 'haproxy.sock') }), reloader: h },
    log: silentLogger,
  });
  const running = pipeline.run(AbortSignal.any([signal, ctl.signal]));
  const wrk = startWrk({ url: `http://127.0.0.1:${p.port}/`, connections: 4, threads: 1, maxSeconds: 240 });
  const samples: number[] = [];
  try {
    await until('initial apply', () => pipeline.status().appliedGeneration >= 1);
    for (let i = 0; i < SAMPLES; i++) {
      const x = candidates[i % candidates.length] as TimedBackend;
      x.reset();
      const t0 = nowMs();
      await publish([...base, x]);
      await until(`${x.name} serves`, () => x.firstSeen() !== undefined);
      samples.push((x.firstSeen() as number) - t0);
      const gen = pipeline.status().appliedGeneration;
      await publish(base);
      await until(`${x.name} removed`, () => pipeline.status().appliedGeneration > gen && !pipeline.status().applying);
      await sleep(50, undefined, { signal }); // requests already sent to it finish
    }
  } finally {
    await wrk.stop();
    ctl.abort();
    await running;
    await h.stop({ signal: AbortSignal.timeout(30_000), graceMs: 0 });
    await etcd?.kill();
    await rm(dir, { recursive: true, force: true });
  }
  samples.sort((a, b) => a - b);
  const pct = (q: number): number => round(samples[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)] ?? Number.NaN);
  return { samples: samples.length, p50Ms: pct(0.5), p99Ms: pct(0.99), maxMs: round(samples[samples.length - 1] ?? Number.NaN), minDebounceMs: 200, p99BeyondDebounceMs: round(pct(0.99) - 200) };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

const { backends: pool, close } = await startTimedBackends({ prefix: 'p', count: POOL });
try {
  const started = nowMs();
  const version = (await runCommand(['haproxy', '-v'], { signal, timeoutMs: 5000 })).stdout.split('\n')[0] ?? '';
  const o = await ours(pool);
  const b = await baseline(pool);
  const file = await latency('file', pool);
  const etcd = await latency('etcd', pool);
  const result = {
    benchmark: 'discovery',
    haproxy: version,
    cpus: cpus().length,
    load: 'wrk -t2 -c16 keep-alive through haproxy on 127.0.0.1 (Node backends in the bench process)',
    membership: { overlayLb: o.membership, consulTemplateBaseline: b.membership, overlayLbRuntimeApplies: o.runtimeApplies, overlayLbFallbacks: o.fallbacks },
    structural: { overlayLb: o.structural, consulTemplateBaseline: b.structural },
    latency: { note: 'source change -> first request served by the new server; aggregator debounce min 200 ms / max 2 s (defaults); file source waits 50 ms after a watch event', file, etcd },
    totalSeconds: round((nowMs() - started) / 1000),
  };
  await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await close();
}
