/**
 * Benchmark: route convergence with a realistic EC2 round trip. The lab API answers in a few ms,
 * AWS in tens to hundreds; this runs the failover benchmark's convergence measurement
 * (bench/lib/failover-convergence.ts: overlay-lb's parallel, read-back claim against the
 * sequential SDK and aws CLI baselines, throttling on) twice, side by side: with the lab's own
 * round trip, and with `--latency-ms` (default 100) added by the lab to every EC2 call (its
 * `api-latency` fault on `*`). The sequential baseline pays that round trip once per table, the
 * parallel claim about three times in all (describe, the writes in parallel, the read-back).
 *
 * Usage (root): node dist/bench/convergence.js [--latency-ms 100] [--counts 1,10,50,100,200] [--out bench/results/convergence.json]
 * From the host against the lab API only; bounded to 20 minutes.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLab } from '../src/lab/lab.js';
import { loadSpecFile } from '../src/ops/load-spec.js';
import { measureConvergence, type ConvergenceRow } from './lib/failover-convergence.js';

const { values } = parseArgs({
  options: {
    'latency-ms': { type: 'string', default: '100' },
    counts: { type: 'string', default: '1,10,50,100,200' },
    out: { type: 'string', default: 'bench/results/convergence.json' },
  },
});
const latencyMs = Number(values['latency-ms']);
const counts = (values.counts ?? '').split(',').map(Number);
if (!Number.isFinite(latencyMs) || latencyMs <= 0) throw new Error(`--latency-ms ${values['latency-ms']}: a number of ms > 0`);
if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--counts ${values.counts}: table counts >= 1, comma-separated`);
const log = (msg: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupted.abort(new Error(sig)));
const signal = AbortSignal.any([interrupted.signal, AbortSignal.timeout(20 * 60_000)]);
const work = await mkdtemp(join(tmpdir(), 'olb-bench-convergence-'));
const specFile = join(work, 'spec.yaml');
await writeFile(specFile, await readFile('examples/demo.yaml', 'utf8'));
const spec = (await loadSpecFile(specFile, { signal })).spec;
const [master, backup] = spec.cluster.nodes.map((n) => n.name) as [string, string];

const started = Date.now();
const lab = await startLab({ specFile, azs: 3, prefix: `olbcv${process.pid % 10000}`, nodes: false, signal });
const results: { meta: Record<string, unknown>; lab: ConvergenceRow[]; injected: ConvergenceRow[] } = { meta: {}, lab: [], injected: [] };
try {
  const eni = (n: string): string => lab.plan.instances.find((i) => i.name === n)!.eni.id;
  const common = { counts, vip: spec.cluster.vip, fromEni: eni(backup), toEni: eni(master), cliMaxTables: 10, signal, log };
  log('convergence with the lab API\'s own round trip');
  results.lab = await measureConvergence(lab, common);
  log(`convergence with ${latencyMs} ms added to every EC2 call`);
  results.injected = await measureConvergence(lab, { ...common, latencyMs });
} finally {
  await lab.close();
  await rm(work, { recursive: true, force: true });
}
results.meta = { date: new Date().toISOString(), cpus: cpus().length, node: process.version, latencyMs, counts, durationS: Math.round((Date.now() - started) / 1000) };
await writeFile(values.out ?? 'bench/results/convergence.json', `${JSON.stringify(results, null, 2)}\n`);
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
for (const [name, rows] of [['lab', results.lab], [`+${latencyMs} ms`, results.injected]] as const) {
  for (const r of rows) {
    process.stdout.write(`| ${name} | ${r.tables} | ${s(r.bucketBoundMs)} | ${s(r.ours.ms)} (${r.ours.failed} failed) | ${s(r.sequentialSdk.ms)} (${r.sequentialSdk.failed} failed) | ${r.sequentialCli ? `${s(r.sequentialCli.ms)} (${r.sequentialCli.failed} failed)` : '—'} |\n`);
  }
}
