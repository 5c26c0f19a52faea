/**
 * Benchmark: how long one EC2 API call takes from an LB node in the lab, quiet and with the CPU
 * hog of the tests (test/helpers/cpu-hog.ts: one busy loop per core), side by side in one run.
 * It sizes the per-call timeout of the agent's cloud calls (3 s in src/cloud/claim.ts,
 * src/failover/route-claimer.ts, eip-claimer.ts, heartbeat.ts): a call that times out on a busy
 * node is retried, but a timeout under the latency of a busy node would fail calls that would
 * have answered.
 *
 * What is measured: the agent's calls as the agent makes them (AWS SDK v3, one EC2 client with
 * keep-alive connections, maxAttempts 1), from inside the lb-a namespace through the lab's relay
 * to the API (http://169.254.169.250): DescribeRouteTables of the VPC (the claim's describe) and
 * CreateTags on lb-a's ENI (the heartbeat), alternating, CALLS per phase, one every GAP_MS.
 *
 * Usage (root): node dist/bench/lab-api-latency.js [--calls 300] [--gap-ms 20] [--out bench/results/lab-api-latency.json]
 * Traffic stays inside the lab's namespaces; every phase is bounded in count and time.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startLab } from '../src/lab/lab.js';
import { startCpuHog } from '../test/helpers/cpu-hog.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '300' }, 'gap-ms': { type: 'string', default: '20' }, out: { type: 'string', default: 'bench/results/lab-api-latency.json' } } });
const CALLS = Number(values.calls);
const GAP_MS = Number(values['gap-ms']);
const log = (msg: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Runs inside the node's namespace: the calls, one line of JSON (latencies in ms, errors). */
const CLIENT = `
import { EC2Client, DescribeRouteTablesCommand, CreateTagsCommand } from '@aws-sdk/client-ec2';
const [endpoint, region, key, secret, vpc, eni, calls, gap] = process.argv.slice(2);
const ec2 = new EC2Client({ region, endpoint, maxAttempts: 1, credentials: { accessKeyId: key, secretAccessKey: secret } });
const ms = { describe: [], tag: [] };
const errors = [];
for (let i = 0; i < Number(calls); i++) {
  const kind = i % 2 === 0 ? 'describe' : 'tag';
  const cmd = kind === 'describe'
    ? new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] })
    : new CreateTagsCommand({ Resources: [eni], Tags: [{ Key: 'overlay-lb:heartbeat', Value: String(Date.now()) }] });
  const t0 = performance.now();
  try {
    await ec2.send(cmd, { abortSignal: AbortSignal.timeout(30000) });
    ms[kind].push(performance.now() - t0);
  } catch (e) {
    errors.push(kind + ': ' + (e.name ?? '') + ' ' + (e.message ?? e));
  }
  await new Promise((r) => setTimeout(r, Number(gap)));
}
process.stdout.write(JSON.stringify({ ms, errors }));
process.exit(0);
`;

interface Stats { readonly n: number; readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number }
function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => Math.round((s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN) * 10) / 10;
  return { n: s.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: Math.round((s.at(-1) ?? Number.NaN) * 10) / 10 };
}

const work = await mkdtemp(join(tmpdir(), 'olb-bench-api-'));
const signal = AbortSignal.timeout(30 * 60_000);
const lab = await startLab({ specFile: 'examples/demo.yaml', prefix: `olbapi${process.pid % 10000}`, nodes: false, stateDir: join(work, 'state'), signal: AbortSignal.timeout(120_000) });
const results: Record<string, { describe: Stats; tag: Stats; errors: string[] }> = {};
try {
  const lbA = lab.plan.instances.find((i) => i.name === 'lb-a');
  if (lbA === undefined) throw new Error('examples/demo.yaml has no lb-a');
  // From the node's namespace, with the SDK the agent imports (resolved from this package).
  const script = join(fileURLToPath(new URL('../../', import.meta.url)), `.lab-api-latency-${process.pid}.mjs`);
  await writeFile(script, CLIENT);
  try {
    for (const phase of ['quiet', 'cpu-hog'] as const) {
      const hog = phase === 'cpu-hog' ? startCpuHog({ maxSeconds: 600 }) : null;
      try {
        log(`${phase}: ${CALLS} calls from lb-a`);
        const { stdout } = await lab.exec('lb-a', [process.execPath, script, `http://${lab.plan.router.serviceAddresses.api}/`, lab.plan.region, lab.adminCredentials.accessKeyId, lab.adminCredentials.secretAccessKey, lab.plan.vpc.id, lbA.eni.id, String(CALLS), String(GAP_MS)], { signal, timeoutMs: 20 * 60_000 });
        const out = JSON.parse(stdout) as { ms: { describe: number[]; tag: number[] }; errors: string[] };
        results[phase] = { describe: stats(out.ms.describe), tag: stats(out.ms.tag), errors: out.errors };
        log(`${phase}: ${JSON.stringify(results[phase])}`);
      } finally {
        await hog?.stop();
      }
    }
  } finally {
    await rm(script, { force: true });
  }
} finally {
  await lab.close();
  await rm(work, { recursive: true, force: true });
}
const report = { benchmark: 'lab-api-latency', at: new Date().toISOString(), calls: CALLS, gapMs: GAP_MS, note: 'ms per call from the lb-a namespace through the lab relay, AWS SDK v3, keep-alive, maxAttempts 1', results };
await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(report)}\n`);
