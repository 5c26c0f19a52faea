/**
 * Benchmark (issue 19): in the lab, the time from `overlay-lb up` to the first answered request,
 * and from `apply --cluster` to the last node on the new version, with the phases broken down so
 * that the report says where the time goes.
 *
 * One iteration per process, each holding the shared lab lock only for its own run (2-4 min):
 *
 *   for i in 1 2 3; do
 *     flock /tmp/overlay-lb-netns.lock node dist/bench/provision.js [--iam-propagation-ms 10000]
 *   done
 *   node dist/bench/provision.js --report-only    # docs/BENCHMARKS.md section
 *   node dist/bench/plot.js                        # docs/bench/provision.svg
 *
 * Each iteration appends its run to `bench/results/provision.json` (`--reset` starts a new series).
 *
 * Per iteration: `lab up --bare` (startLab, planned from examples/provision.yaml as
 * docs/provisioning.md says); a probe in the client namespace of every AZ sends a GET through the
 * VIP every PROBE_MS; then `up()` (what `overlay-lb up --yes` calls) with the package, the lab's
 * endpoint and its admin credentials, its `onPlan`/`onStep`/`onEvent` hooks timing the plan, each
 * resource's step and every failed (retried) call; beside it a monitor polls, every POLL_MS with
 * the admin's credentials, DescribeInstances (pending, running), each instance's console
 * (GetConsoleOutput: the user-data's lines) and each agent's published status in the release
 * bucket. Once every AZ had its first 200 and both agents settled (one MASTER), `applyCluster()`
 * (what `apply SPEC --cluster` calls) rolls out a routing change (X-Canary: 1 to app-stable) while
 * a probe runs in az-a; the monitor notes when each node's published status shows the new version.
 * Then `down()` (`down --yes --force`) and `lab down`, also when anything failed.
 * Waits are on observable state with generous deadlines; nothing here asserts a time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeInstancesCommand, EC2Client, GetConsoleOutputCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { PublishedNodeStatus } from '../src/agent-api/contract.js';
import { statusKey } from '../src/cloud/aws/provision/names.js';
import { startLab, stopLab, type LabHandle } from '../src/lab/lab.js';
import { loadSpecFile } from '../src/ops/load-spec.js';
import { down } from '../src/provision/down.js';
import { applyCluster } from '../src/provision/rollout.js';
import { up } from '../src/provision/up.js';
import { startProbe, type Probe } from '../test/helpers/lab-probe.js';
import {
  writeProvisionReport, type ProvisionNodeTiming, type ProvisionResults, type ProvisionRolloutNode, type ProvisionRun, type ProvisionStepTiming,
} from './lib/provision-report.js';

const { values } = parseArgs({
  options: {
    package: { type: 'string' },
    'iam-propagation-ms': { type: 'string', default: '0' },
    out: { type: 'string', default: 'bench/results/provision.json' },
    reset: { type: 'boolean', default: false },
    'report-only': { type: 'boolean', default: false },
  },
});
const log = (msg: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const SPEC = 'examples/provision.yaml';
/** How often the monitor polls the API (instances, consoles, statuses). */
const POLL_MS = 250;
/** How often each AZ's probe sends a request through the VIP. */
const PROBE_MS = 100;
const OUT = values.out ?? 'bench/results/provision.json';

function usage(message: string): never {
  process.stderr.write(`provision: ${message}\n`);
  process.exit(2);
}

async function newestDeb(): Promise<string> {
  const given = values.package ?? process.env['OVERLAY_LB_DEB'];
  if (given !== undefined && given !== '') return given;
  const debs = (await readdir('dist/deb').catch(() => [])).filter((f) => f.endsWith('.deb'));
  if (debs.length === 0) usage('no package: build one with scripts/build-deb.sh --out dist/deb, or give --package DEB (or OVERLAY_LB_DEB)');
  const withTimes = await Promise.all(debs.map(async (f) => ({ f: join('dist/deb', f), t: (await stat(join('dist/deb', f))).mtimeMs })));
  return withTimes.sort((a, b) => b.t - a.t)[0]!.f;
}

async function readResults(packageFile: string): Promise<ProvisionResults> {
  const fresh: ProvisionResults = {
    meta: {
      cpus: cpus().length, node: process.version, spec: `${SPEC} (2 nodes in az-a and az-b, a bare lab with 3 AZs)`,
      package: packageFile.split('/').pop() ?? packageFile, packageBytes: (await stat(packageFile).catch(() => ({ size: 0 }))).size,
      poll: `Node phases are the first of polls every ${POLL_MS} ms (DescribeInstances, GetConsoleOutput, the published status in S3) that saw them; the first answer is the first 200 of a probe sending every ${PROBE_MS} ms from each AZ's client: the figures are that coarse.`,
    },
    runs: [],
  };
  const text = values.reset === true ? null : await readFile(OUT, 'utf8').catch(() => null);
  return text === null ? fresh : { ...fresh, runs: (JSON.parse(text) as ProvisionResults).runs };
}

const packageFile = await newestDeb();
if (values['report-only'] === true) {
  await writeProvisionReport(await readResults(packageFile), { docsFile: 'docs/BENCHMARKS.md' });
  process.exit(0);
}
const iamPropagationMs = Number(values['iam-propagation-ms']);
if (!Number.isInteger(iamPropagationMs) || iamPropagationMs < 0 || iamPropagationMs > 60_000) usage(`--iam-propagation-ms ${JSON.stringify(values['iam-propagation-ms'])} is not an integer in 0-60000`);

const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupted.abort(new Error(sig)));
// One iteration must fit in the ~10 minutes a holder of the lab lock may take.
const signal = AbortSignal.any([interrupted.signal, AbortSignal.timeout(570_000)]);
const commit = (() => {
  try {
    return execFileSync('git', ['log', '-1', '--format=%h', '--', 'src'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();

/** Polls `read` every POLL_MS until `done` holds; throws naming `what` at the deadline. */
async function waitUntil<T>(what: string, read: () => T | Promise<T>, done: (v: T) => boolean, timeoutMs: number, stop?: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const until = stop === undefined ? signal : AbortSignal.any([signal, stop]);
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await sleep(POLL_MS, undefined, { signal: until });
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

const CONSOLE_MARKS: readonly [keyof ProvisionNodeTiming, RegExp][] = [
  ['userDataStartMs', /running 'modules:final'/],
  ['packageFetchedMs', /overlay-lb user-data: package fetched/],
  ['packageInstalledMs', /overlay-lb user-data: package installed/],
  ['agentStartedMs', /overlay-lb user-data: agent started/],
  ['userDataDoneMs', /Cloud-init v\. lab finished at/],
];

type MutableNode = { -readonly [K in keyof ProvisionNodeTiming]: ProvisionNodeTiming[K] };
const emptyNode = (): MutableNode => ({
  instanceId: null, pendingSeenMs: null, runningSeenMs: null, userDataStartMs: null, packageFetchedMs: null, packageInstalledMs: null,
  agentStartedMs: null, userDataDoneMs: null, statusPublishedMs: null, settledMs: null, vrrp: null,
});

/**
 * The operator-side monitor: polls instances, consoles and published statuses every POLL_MS
 * from `t0`, until stopped. A failing user-data ("Failed to run module scripts-user") is kept
 * as an error with the console, for the iteration to report.
 */
function startMonitor(o: { readonly ec2: EC2Client; readonly s3: S3Client; readonly bucket: string; readonly prefix: string; readonly cluster: string; readonly nodes: readonly string[]; readonly t0: number }) {
  const nodes = new Map(o.nodes.map((n) => [n, emptyNode()]));
  const statuses = new Map<string, PublishedNodeStatus>();
  let failure: string | null = null;
  let running = true;
  const readStatus = async (node: string): Promise<PublishedNodeStatus | null> => {
    const got = await o.s3.send(new GetObjectCommand({ Bucket: o.bucket, Key: statusKey(o.prefix, node) }), { abortSignal: signal }).catch(() => null);
    if (got === null) return null;
    try {
      const v = JSON.parse((await got.Body?.transformToString('utf8')) ?? '') as PublishedNodeStatus;
      return v.format === 1 ? v : null;
    } catch {
      return null;
    }
  };
  const tick = async (): Promise<void> => {
    const now = (): number => Date.now() - o.t0;
    const out = await o.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:overlay-lb:cluster', Values: [o.cluster] }] }), { abortSignal: signal });
    const instances = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    await Promise.all(o.nodes.map(async (node) => {
      const t = nodes.get(node)!;
      const i = instances.find((x) => x.Tags?.some((tg) => tg.Key === 'overlay-lb:node' && tg.Value === node) && x.State?.Name !== 'terminated');
      if (i?.InstanceId !== undefined) {
        t.instanceId ??= i.InstanceId;
        if (i.State?.Name === 'pending') t.pendingSeenMs ??= now();
        if (i.State?.Name === 'running') {
          t.pendingSeenMs ??= now();
          t.runningSeenMs ??= now();
          if (t.userDataDoneMs === null) {
            const text = Buffer.from((await o.ec2.send(new GetConsoleOutputCommand({ InstanceId: i.InstanceId }), { abortSignal: signal })).Output ?? '', 'base64').toString('utf8');
            const at = now();
            for (const [key, re] of CONSOLE_MARKS) if (t[key] === null && re.test(text)) (t as Record<string, unknown>)[key] = at;
            if (/Failed to run module scripts-user/.test(text)) failure ??= `node ${node}'s user-data failed:\n${text.slice(-3000)}`;
          }
        }
      }
      const s = await readStatus(node);
      if (s !== null) {
        statuses.set(node, s);
        t.statusPublishedMs ??= now();
        if (t.settledMs === null && s.status.haproxy.healthy && (s.status.vrrp.vrrp === 'MASTER' || s.status.vrrp.vrrp === 'BACKUP')) t.settledMs = now();
        t.vrrp = s.status.vrrp.vrrp ?? null;
      }
    }));
  };
  const loop = (async () => {
    while (running && !signal.aborted) {
      const started = Date.now();
      await tick().catch((err: unknown) => {
        if (!signal.aborted) log(`monitor: ${(err as Error).message}`);
      });
      await sleep(Math.max(0, POLL_MS - (Date.now() - started)), undefined, { signal }).catch(() => undefined);
    }
  })();
  return {
    nodes,
    statuses,
    failure: (): string | null => failure,
    async stop(): Promise<void> {
      running = false;
      await loop;
    },
  };
}

const work = await mkdtemp(join(tmpdir(), 'olbpv-'));
const prefix = `olbpv${process.pid % 10000}`;
const stateDir = join(work, 'lab');
const load0 = loadavg();
const started = Date.now();
let lab: LabHandle | null = null;
let upCalled = false;
const probes: Probe[] = [];
const clients: { destroy(): void }[] = [];
let run: ProvisionRun | null = null;
let failure: unknown = null;
try {
  const loaded = await loadSpecFile(SPEC, { signal });
  const spec = loaded.spec;
  const nodeNames = spec.cluster.nodes.map((n) => n.name);
  const p = spec.provision!;
  log(`lab up --bare (${SPEC}), prefix ${prefix}; package ${packageFile}; IAM propagation ${iamPropagationMs} ms`);
  lab = await startLab({ specFile: SPEC, prefix, stateDir, bare: true, signal: AbortSignal.any([signal, AbortSignal.timeout(180_000)]) });
  const theLab = lab;
  const labUpMs = Date.now() - started;
  if (iamPropagationMs > 0) await theLab.faults.inject({ kind: 'iam-propagation', ms: iamPropagationMs });
  const credentials = theLab.adminCredentials;
  const config = { region: credentials.region, endpoint: theLab.apiUrl, maxAttempts: 1, credentials };
  const ec2 = new EC2Client(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  clients.push(ec2, s3);

  // A probe per AZ from before up: the first 200 cannot be missed.
  const azProbes = new Map<string, Probe>();
  for (const az of theLab.plan.azs) {
    const probe = await startProbe(theLab, { clientAz: az, signal, intervalMs: PROBE_MS, timeoutMs: 2000, maxDurationMs: 480_000 });
    probes.push(probe);
    azProbes.set(az, probe);
  }

  // up, timed by its own hooks; the monitor beside it.
  const t0 = Date.now();
  const monitor = startMonitor({ ec2, s3, bucket: p.bucket, prefix: p.prefix, cluster: spec.cluster.name, nodes: nodeNames, t0 });
  let planMs = Number.NaN;
  const stepStarts: { kind: string; label: string; action: string; startMs: number }[] = [];
  let apiCalls = 0;
  const apiErrors: Record<string, number> = {};
  const runInstancesCallsMs: number[] = [];
  log('up --yes');
  upCalled = true;
  await up({
    specFile: SPEC, packageFile, mode: 'apply', endpoint: theLab.apiUrl, credentials, signal,
    onPlan: () => {
      planMs = Date.now() - t0;
    },
    onStep: (step) => void stepStarts.push({ kind: step.kind, label: step.label, action: step.action, startMs: Date.now() - t0 }),
    onEvent: (e) => {
      if (e.type === 'api-call') {
        apiCalls++;
        if (e.action === 'ec2:RunInstances') runInstancesCallsMs.push(Date.now() - t0);
      } else {
        apiErrors[`${e.action} ${e.code}`] = (apiErrors[`${e.action} ${e.code}`] ?? 0) + 1;
      }
    },
  });
  const returnedMs = Date.now() - t0;
  const steps: ProvisionStepTiming[] = stepStarts.map((s, i) => ({ ...s, endMs: stepStarts[i + 1]?.startMs ?? returnedMs }));
  log(`up returned after ${returnedMs} ms (${steps.length} steps, ${apiCalls} calls)`);

  // The first 200 in every AZ, and both agents settled with one master.
  const firstAnswerMs: Record<string, number | null> = {};
  const answering = new AbortController();
  // A user-data that failed ends the wait at once, with its console.
  const userDataFailed = waitUntil('a failed user-data', () => monitor.failure(), (f) => f !== null, 360_000, answering.signal).then(
    (f) => Promise.reject(new Error(f ?? '')),
    () => new Promise<never>(() => undefined),
  );
  try {
    await Promise.race([userDataFailed, Promise.all([...azProbes].map(async ([az, probe]) => {
      await probe.firstSuccess({ timeoutMs: 360_000 });
      const report = await probe.stop();
      const first = report.samples.find((s) => s.ok);
      firstAnswerMs[az] = first === undefined ? null : first.sentAt + first.ms - t0;
    }))]);
  } finally {
    answering.abort();
  }
  const answered = Object.values(firstAnswerMs).filter((v): v is number => v !== null);
  const allAzsAnswerMs = answered.length === theLab.plan.azs.length ? Math.max(...answered) : null;
  log(`first 200 in every AZ at ${allAzsAnswerMs} ms (${JSON.stringify(firstAnswerMs)})`);
  await waitUntil('both agents published a settled status, one MASTER', () => [...monitor.nodes.values()].map((n) => [n.settledMs, n.vrrp]), (v) => v.every(([s]) => s !== null) && v.filter(([, r]) => r === 'MASTER').length === 1, 300_000);
  const upNodes = Object.fromEntries([...monitor.nodes].map(([n, t]) => [n, { ...t }]));

  // apply --cluster: a routing change, backup first and master last, a client loop through the VIP meanwhile.
  const v2 = join(work, 'provision-v2.yaml');
  const text = await readFile(SPEC, 'utf8');
  if (text.split('        backend: app-canary\n').length !== 2) throw new Error(`${SPEC}'s first route no longer goes to app-canary: update bench/provision.ts`);
  await writeFile(v2, text.replace('        backend: app-canary\n', '        backend: app-stable\n'));
  const v2Hash = (await loadSpecFile(v2, { signal })).hash;
  const rolloutProbe = await startProbe(theLab, { clientAz: 'az-a', signal, intervalMs: 50, timeoutMs: 2000, maxDurationMs: 300_000 });
  probes.push(rolloutProbe);
  await rolloutProbe.firstSuccess({ timeoutMs: 60_000 });
  const t1 = Date.now();
  let uploaded = null as { version: string; atMs: number } | null;
  const rolloutNodes = new Map<string, { pointerMs: number; onVersionMs: number | null; passedMs: number | null }>();
  let order: readonly string[] = [];
  const watch = (async () => {
    while (!signal.aborted) {
      if (uploaded !== null) {
        const version = uploaded.version;
        for (const [node, r] of rolloutNodes) {
          const s = monitor.statuses.get(node);
          if (r.onVersionMs === null && s !== undefined && s.specVersion === version && s.status.specHash === v2Hash) r.onVersionMs = Date.now() - t1;
        }
        if (order.length > 0 && order.every((n) => rolloutNodes.get(n)?.onVersionMs !== null && rolloutNodes.has(n))) return;
      }
      await sleep(POLL_MS / 5, undefined, { signal }).catch(() => undefined);
    }
  })();
  log('apply --cluster (X-Canary: 1 to app-stable)');
  const result = await applyCluster({
    specFile: v2, endpoint: theLab.apiUrl, credentials, signal, nodeDeadlineMs: 180_000,
    onEvent: (e) => {
      const at = Date.now() - t1;
      if (e.kind === 'uploaded') uploaded = { version: e.specVersion, atMs: at };
      else if (e.kind === 'order') order = e.order;
      else if (e.kind === 'node-started') rolloutNodes.set(e.node, { pointerMs: at, onVersionMs: null, passedMs: null });
      else rolloutNodes.get(e.node)!.passedMs = at;
    },
  });
  const rolloutReturnedMs = Date.now() - t1;
  if (result.failed !== null) throw new Error(`apply --cluster failed at ${result.failed.node}: ${result.failed.reason}`);
  await Promise.race([watch, sleep(60_000, undefined, { signal })]);
  await rolloutProbe.streak(20, { timeoutMs: 120_000 });
  const rolled = await rolloutProbe.stop();
  for (const az of theLab.plan.azs) {
    const r = await theLab.request(az, { headers: { 'X-Canary': '1' }, signal, timeoutMs: 5000 });
    if (!/^s[12]$/.test(r.headers['x-served-by'] ?? '')) throw new Error(`${az}: X-Canary: 1 answered by ${r.headers['x-served-by'] ?? '?'}, not app-stable: the routing change did not take`);
  }
  const onVersion = [...rolloutNodes.values()].map((r) => r.onVersionMs);
  const firstStatus = monitor.statuses.get(order[0] ?? '');
  await monitor.stop();
  log(`apply --cluster returned after ${rolloutReturnedMs} ms; nodes on the version at ${JSON.stringify(onVersion)}; probe ${rolled.failed} failed of ${rolled.sent}`);
  const rollout: ProvisionRun['rollout'] = {
    returnedMs: rolloutReturnedMs, uploadedMs: uploaded?.atMs ?? null, order,
    nodes: Object.fromEntries([...rolloutNodes].map(([n, r]): [string, ProvisionRolloutNode] => [n, r])),
    lastNodeOnVersionMs: onVersion.every((v) => v !== null) ? Math.max(...onVersion) : null,
    followIntervalMs: firstStatus === undefined ? null : firstStatus.intervalMs,
    probe: { sent: rolled.sent, failed: rolled.failed },
  };

  // down (timed; forced: the probes are gone, but down's traffic check reads statuses one interval apart).
  const d0 = Date.now();
  await down({ specFile: SPEC, mode: 'apply', force: true, endpoint: theLab.apiUrl, credentials, signal });
  const downMs = Date.now() - d0;
  upCalled = false;
  log(`down --force took ${downMs} ms`);
  run = {
    date: new Date(started).toISOString(), commit, iamPropagationMs, loadavg: { start: load0, end: loadavg() }, labUpMs,
    up: { returnedMs, planMs, steps, apiCalls, apiErrors, runInstancesCallsMs, nodes: upNodes, firstAnswerMs, allAzsAnswerMs },
    rollout, downMs,
  };
} catch (err) {
  failure = err;
} finally {
  for (const probe of probes) await probe.stop().catch(() => undefined);
  if (upCalled && lab !== null) {
    // Cleanup after a failure: what up made goes, before the lab itself.
    log('cleanup: down --force');
    await down({ specFile: SPEC, mode: 'apply', force: true, endpoint: lab.apiUrl, credentials: lab.adminCredentials, signal: AbortSignal.timeout(300_000) })
      .catch((err: unknown) => log(`cleanup: down failed: ${(err as Error).message}`));
  }
  for (const c of clients) c.destroy();
  if (lab !== null) {
    await stopLab(lab.stateFile, { signal: AbortSignal.timeout(120_000) }).catch((err: unknown) => log(`cleanup: lab down failed: ${(err as Error).message}`));
    await lab.close().catch(() => undefined);
  }
  await rm(work, { recursive: true, force: true });
}
if (failure !== null) {
  log(`iteration failed (nothing recorded): ${inspect(failure)}`);
  process.exit(1);
}
const results = await readResults(packageFile);
results.runs.push(run!);
await writeFile(OUT, `${JSON.stringify(results, null, 2)}\n`);
log(`recorded run ${results.runs.length} in ${OUT} (${Math.round((Date.now() - started) / 1000)} s)`);
