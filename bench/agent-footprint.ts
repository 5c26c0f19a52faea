/**
 * Benchmark: the idle footprint of the agent on an LB node, side by side with the keepalived and
 * haproxy processes it runs on the same node (issue 17 item 7: idle agent RSS <= 70 MB, idle CPU
 * <= 1% of one core).
 *
 * Per variant, one lab (examples/demo.yaml, 2 AZs, both LB nodes with the agent): wait until every
 * route points at the preferred node and the status of both agents says healthy, let it settle
 * (`--settle`, default 15 s), then sample every second for `--seconds` (default 60) each process
 * of both LB nodes from /proc: VmRSS, RssAnon and RssFile from /proc/PID/status, utime+stime from
 * /proc/PID/stat (clock ticks; user time kept apart). Reported per node: the agent, keepalived (its parent and VRRP
 * child together) and haproxy (master and workers together): RSS at the end, median and max over
 * the samples, and CPU over the whole window in % of one core. The agent's V8 heap comes from its
 * own /metrics (`overlay_lb_process_heap_used_bytes`); where its RSS is (executable file, libraries,
 * malloc, anonymous mappings) from /proc/PID/smaps at the end.
 *
 *   sudo flock /tmp/overlay-lb-netns.lock node dist/bench/agent-footprint.js \
 *     --variant 'packaged=/tmp/x/usr/bin/overlay-lb' --variant 'dist=dist'
 *
 * `--variant LABEL=PATH` runs the agent as the executable PATH (the packaged single executable,
 * usr/bin/overlay-lb of a .deb extracted with dpkg-deb -x); `LABEL=dist` runs this build's CLI on
 * the pinned Node. Variants run one after the other, each in its own lab (about 2 min each);
 * each replaces its entry (by label) in `--out` (default bench/results/agent-footprint.json), so
 * variants measured in separate runs (before/after a change) land side by side in one file.
 * `--report-only` prints the Markdown table of the file; `--keep-logs DIR` keeps the agents' logs.
 * `--cold` drops the executable's page cache (sync, then `dd iflag=nocache count=0`) before each
 * variant's lab starts: its pages then come from disk as after a boot. Without it, a file just
 * written (postject, dpkg-deb -x, a copy) may be cached in large folios, which Linux >= 6.18 maps
 * whole on a fault: the same program then shows up to ~30 MiB more file-backed RSS (measured with
 * an empty single executable: 31.7 MiB cold, 48.8 MiB right after postject wrote it).
 * Nothing is sent to the network: the lab's namespaces only, and reads of /proc.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLab, nodeRunDir, type AgentCommand, type LabHandle } from '../src/lab/lab.js';
import { labFiles } from '../src/lab/controller.js';
import { readLabState } from '../src/lab/state-file.js';
import { loadSpecFile } from '../src/ops/load-spec.js';
import { waitRoutes } from './lib/failover-trials.js';
import { footprintMappingTable, footprintTable, type FootprintResults, type ProcessFootprint, type VariantResult } from './lib/agent-footprint-report.js';

const { values } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: [] },
    seconds: { type: 'string', default: '60' },
    settle: { type: 'string', default: '15' },
    spec: { type: 'string', default: 'examples/demo.yaml' },
    out: { type: 'string', default: 'bench/results/agent-footprint.json' },
    'report-only': { type: 'boolean', default: false },
    'keep-logs': { type: 'string' },
    cold: { type: 'boolean', default: false },
  },
});
const log = (msg: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function readResults(): Promise<FootprintResults> {
  const text = await readFile(values.out, 'utf8').catch(() => null);
  return text === null ? { variants: {} } : (JSON.parse(text) as FootprintResults);
}

if (values['report-only'] === true) {
  const results = await readResults();
  process.stdout.write(`${footprintTable(results)}\n\n${footprintMappingTable(results)}\n`);
  process.exit(0);
}

function usage(message: string): never {
  process.stderr.write(`agent-footprint: ${message}\n`);
  process.exit(2);
}

const SECONDS = Number(values.seconds);
const SETTLE = Number(values.settle);
if (!(SECONDS >= 5 && SECONDS <= 600)) usage(`--seconds ${values.seconds}: give 5 to 600`);
if (!(SETTLE >= 0 && SETTLE <= 120)) usage(`--settle ${values.settle}: give 0 to 120`);
const variants = values.variant.map((v) => {
  const at = v.indexOf('=');
  if (at <= 0) usage(`--variant ${JSON.stringify(v)}: give LABEL=PATH (the packaged executable) or LABEL=dist`);
  const path = v.slice(at + 1);
  return { label: v.slice(0, at), command: path === 'dist' ? undefined : ({ executable: resolve(path), restricted: false } satisfies AgentCommand) };
});
if (variants.length === 0) usage('give at least one --variant LABEL=PATH|dist');
if (process.getuid?.() !== 0) usage('needs root (the lab makes network namespaces)');

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

interface Sample { readonly rssKiB: number; readonly anonKiB: number; readonly fileKiB: number; readonly ticks: number; readonly userTicks: number }

/** RSS (KiB, total, anonymous, file-backed) and user+system CPU ticks of one process; null once it is gone. */
async function procSample(pid: number): Promise<Sample | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    // utime and stime are fields 14 and 15 (1-based) of /proc/PID/stat.
    return { rssKiB: kib('VmRSS'), anonKiB: kib('RssAnon'), fileKiB: kib('RssFile'), ticks: Number(fields[11]) + Number(fields[12]), userTicks: Number(fields[11]) };
  } catch {
    return null;
  }
}

/** The children of `parent` (by /proc/PID/stat's ppid). */
async function childrenOf(parent: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) out.push(Number(entry));
  }
  return out;
}

async function pidFile(path: string): Promise<number> {
  return Number((await readFile(path, 'utf8')).trim().split('\n')[0]);
}

async function agentPid(lab: LabHandle, node: string, signal: AbortSignal): Promise<number> {
  const state = await readLabState(lab.stateFile, { signal });
  const r = state?.resources.find((x) => x.kind === 'process' && 'label' in x && x.label === `agent ${node}`) as { pid?: number | null } | undefined;
  if (typeof r?.pid !== 'number') throw new Error(`no agent process recorded for ${node}`);
  return r.pid;
}

/** The processes of one node now, grouped: the agent, keepalived (parent and children), haproxy (master and workers). */
async function nodeProcesses(lab: LabHandle, node: string, signal: AbortSignal): Promise<Record<'agent' | 'keepalived' | 'haproxy', number[]>> {
  const runDir = nodeRunDir(labFiles(lab.stateFile, lab.plan.prefix).dir, node);
  const keepalived = await pidFile(join(runDir, 'keepalived.pid'));
  const haproxy = await pidFile(join(runDir, 'haproxy.pid'));
  return {
    agent: [await agentPid(lab, node, signal)],
    keepalived: [keepalived, ...(await childrenOf(keepalived))],
    haproxy: [haproxy, ...(await childrenOf(haproxy))],
  };
}

async function agentHeapBytes(lab: LabHandle, port: number, node: string, signal: AbortSignal): Promise<number | null> {
  const r = await lab.exec(node, ['curl', '-s', '--max-time', '2', `http://127.0.0.1:${port}/metrics`], { signal, allowFailure: true });
  const line = r.stdout.split('\n').find((l) => l.startsWith('overlay_lb_process_heap_used_bytes'));
  return line === undefined ? null : Number(line.split(' ').at(-1));
}

/**
 * Where a process's resident memory is, by mapping (/proc/PID/smaps), in KiB: its executable
 * file, other files (shared libraries), the brk heap (malloc), anonymous mappings (the V8 heap,
 * malloc's mmap arenas, thread stacks) and the rest.
 */
async function residentByMapping(pid: number): Promise<Record<string, number>> {
  const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
  const out: Record<string, number> = { executable: 0, 'other files': 0, 'brk heap': 0, anonymous: 0, other: 0 };
  let kind = 'other';
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (m !== null) {
      const name = m[1] ?? '';
      kind = name === exe ? 'executable' : name.startsWith('/') ? 'other files' : name === '[heap]' ? 'brk heap' : name === '' ? 'anonymous' : 'other';
    } else if (line.startsWith('Rss:')) {
      out[kind] = (out[kind] ?? 0) + Number(line.split(/\s+/)[1]);
    }
  }
  return out;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
}

async function measureVariant(variant: (typeof variants)[number], signal: AbortSignal): Promise<VariantResult> {
  const specFile = resolve(values.spec);
  const spec = (await loadSpecFile(specFile, { signal })).spec;
  const nodes = spec.cluster.nodes.map((n) => n.name);
  const startedAt = new Date().toISOString();
  const load0 = loadavg()[0]!;
  if (values.cold === true) {
    // The file the agent's process maps: the executable, or the pinned node running dist.
    const file = variant.command?.executable ?? process.execPath;
    execFileSync('sync', [file]);
    execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
    log(`${variant.label}: page cache of ${file} dropped`);
  }
  log(`${variant.label}: starting the lab (${variant.command?.executable ?? 'this build on the pinned Node'})`);
  const lab = await startLab({ specFile, azs: 2, prefix: `olblean${process.pid % 1000}`, nodes: true, signal, ...(variant.command === undefined ? {} : { agentCommand: variant.command }) });
  try {
    if (lab.nodesSkipped !== null) throw new Error(`agents not started: ${lab.nodesSkipped}`);
    if ((await waitRoutes(lab, nodes[0]!, { timeoutMs: 90_000, signal })) === null) throw new Error(`the routes never reached ${nodes[0]}`);
    log(`${variant.label}: routes on ${nodes[0]}; settling ${SETTLE} s`);
    await sleep(SETTLE * 1000, undefined, { signal });
    // The processes are looked up again at every sample: a haproxy reload replaces its worker.
    // CPU is summed over consecutive samples of the same pid; RSS is the group's sum at a sample.
    const series = new Map<string, { at: number; pids: Map<number, Sample> }[]>();
    const key = (node: string, group: string): string => `${node}\u0000${group}`;
    const changes = new Map<string, number>();
    const sampleAll = async (): Promise<void> => {
      for (const node of nodes) {
        for (const [group, pids] of Object.entries(await nodeProcesses(lab, node, signal))) {
          const samples = new Map<number, Sample>();
          for (const pid of pids) {
            const s = await procSample(pid);
            if (s !== null) samples.set(pid, s);
          }
          const list = series.get(key(node, group)) ?? [];
          const prev = list.at(-1);
          if (prev !== undefined && [...samples.keys()].join() !== [...prev.pids.keys()].join()) changes.set(key(node, group), (changes.get(key(node, group)) ?? 0) + 1);
          list.push({ at: performance.now(), pids: samples });
          series.set(key(node, group), list);
        }
      }
    };
    log(`${variant.label}: sampling for ${SECONDS} s`);
    const t0 = performance.now();
    for (let i = 0; i <= SECONDS; i++) {
      await sampleAll();
      if (i < SECONDS) await sleep(Math.max(0, t0 + (i + 1) * 1000 - performance.now()), undefined, { signal });
    }
    const elapsedMs = performance.now() - t0;
    const mappings = Object.fromEntries(await Promise.all(nodes.map(async (n) => [n, await residentByMapping((await nodeProcesses(lab, n, signal)).agent[0]!).catch(() => null)] as const)));
    const heaps = Object.fromEntries(await Promise.all(nodes.map(async (n) => [n, await agentHeapBytes(lab, spec.admin.agent.port, n, signal)] as const)));
    const processes: ProcessFootprint[] = [];
    const total = (m: Map<number, Sample>, f: keyof Sample): number => [...m.values()].reduce((a, x) => a + x[f], 0);
    for (const node of nodes) {
      for (const group of ['agent', 'keepalived', 'haproxy'] as const) {
        const s = series.get(key(node, group))!;
        let ticks = 0;
        let userTicks = 0;
        for (let i = 1; i < s.length; i++) {
          for (const [pid, x] of s[i]!.pids) {
            const before = s[i - 1]!.pids.get(pid);
            if (before !== undefined) {
              ticks += x.ticks - before.ticks;
              userTicks += x.userTicks - before.userTicks;
            }
          }
        }
        const last = s.at(-1)!.pids;
        const rss = s.map((x) => total(x.pids, 'rssKiB'));
        processes.push({
          node, name: group, pids: last.size, pidChanges: changes.get(key(node, group)) ?? 0,
          rssKiB: total(last, 'rssKiB'), anonKiB: total(last, 'anonKiB'), fileKiB: total(last, 'fileKiB'),
          rssKiBMedian: median(rss), rssKiBMax: Math.max(...rss),
          cpuMs: ticks * TICK_MS, userCpuMs: userTicks * TICK_MS, cpuPercent: (100 * ticks * TICK_MS) / elapsedMs,
          ...(group === 'agent' ? { heapUsedBytes: heaps[node] ?? null, residentKiBByMapping: mappings[node] ?? null } : {}),
        });
      }
    }
    const roleOf = (n: string): string => (n === nodes[0] ? 'master' : 'backup');
    for (const p of processes) log(`${variant.label}: ${p.node} (${roleOf(p.node)}) ${p.name}: RSS ${(p.rssKiB / 1024).toFixed(1)} MiB, CPU ${p.cpuPercent.toFixed(2)}%${p.pidChanges > 0 ? `, its processes changed ${p.pidChanges} time(s)` : ''}`);
    if (values['keep-logs'] !== undefined) {
      for (const n of nodes) await copyFile(join(nodeRunDir(labFiles(lab.stateFile, lab.plan.prefix).dir, n), 'agent.log'), join(values['keep-logs'], `${variant.label}-${n}-agent.log`)).catch(() => undefined);
    }
    // What ran: the executable's own version line (version, commit, runtime), or this checkout's commit.
    const version = variant.command === undefined
      ? `dist of commit ${execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { encoding: 'utf8' }).trim()}`
      : execFileSync(variant.command.executable, ['--version'], { encoding: 'utf8' }).trim();
    return {
      label: variant.label, agent: variant.command?.executable ?? 'dist (this build on the pinned Node)', version, date: startedAt, node: process.version, cpus: cpus().length,
      seconds: Math.round(elapsedMs / 1000), settleSeconds: SETTLE, loadAverage: [load0, loadavg()[0]!], roles: Object.fromEntries(nodes.map((n) => [n, roleOf(n)])), processes,
      ...(values.cold === true ? { executableCache: 'dropped' as const } : {}),
    };
  } finally {
    await lab.close();
  }
}

const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupted.abort(new Error(sig)));
const signal = AbortSignal.any([interrupted.signal, AbortSignal.timeout(variants.length * (SECONDS + SETTLE + 240) * 1000)]);
for (const variant of variants) {
  const result = await measureVariant(variant, signal);
  const results = await readResults();
  results.variants[variant.label] = result;
  await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
}
const final = await readResults();
process.stdout.write(`${footprintTable(final)}\n\n${footprintMappingTable(final)}\n`);
