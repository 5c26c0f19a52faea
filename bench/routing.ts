/**
 * Benchmark: what header routing costs in HAProxy, compiled by overlay-lb (maps) versus a
 * hand-written linear ACL chain, side by side in one run.
 *
 *   (a) 1 header rule compiled by overlay-lb
 *   (b) 10,000 header rules compiled by overlay-lb (one map lookup)
 *   (c) a hand-written config doing the same routing with 10,000 ACL lines
 *   (d) a direct connection to the backend (no load balancer)
 *   (e1) 1 query-string rule and (e) 10,000 query-string rules (one map lookup on url_param)
 *   (f1) 1 cookie rule and (f) 10,000 cookie rules (one map lookup on req.cook)
 *
 * Every request carries the header value of the LAST rule (the worst case for a linear chain).
 * The backend is a second HAProxy answering 200 itself, so the backend is never the bottleneck.
 * Also measures parse + render and `haproxy -c` for the 10,000-rule spec.
 *
 * Usage: node dist/bench/routing.js [--seconds 5] [--rounds 3] [--out bench/results/routing.json]
 * Traffic goes to 127.0.0.1 only; every load run is bounded by --seconds.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { parseSpec } from '../src/speclang/parse.js';
import { renderHaproxy } from '../src/render/haproxy.js';
import { checkHaproxyConfig } from '../src/haproxy/check.js';
import { runWrk } from './lib/wrk.js';
import type { WrkResult } from './lib/wrk.js';
import { startHaproxy } from '../src/haproxy/process.js';
import type { HaproxyProcess } from '../src/haproxy/process.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, rules: { type: 'string', default: '10000' }, out: { type: 'string', default: 'bench/results/routing.json' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const rules = Number(values.rules);
const basePort = 18000 + (process.pid % 500) * 8;
const ports = { backend: basePort, a: basePort + 1, b: basePort + 2, c: basePort + 3, e1: basePort + 4, e: basePort + 5, f1: basePort + 6, f: basePort + 7 };

/** What the rules of a compiled config test: the X-Tenant header, a `tenant` query parameter or a `tenant` cookie. */
type RuleKind = 'header' | 'query' | 'cookie';
const backends = ['app-0', 'app-1', 'app-2', 'app-3'];

function ruleCondition(kind: RuleKind, i: number): string {
  if (kind === 'query') return `{ query: tenant, exact: tenant-${i} }`;
  if (kind === 'cookie') return `{ cookie: tenant, exact: tenant-${i} }`;
  return `{ header: X-Tenant, exact: tenant-${i} }`;
}

function specYaml(ruleCount: number, port: number, dir: string, kind: RuleKind): string {
  const lines = [
    'version: 1',
    'cluster:',
    '  name: bench',
    '  vip: 192.168.100.10',
    '  vpcCidrs: [10.0.0.0/16]',
    '  nodes: [{ name: lb-a, address: 10.0.1.10, zone: az-a }]',
    'admin:',
    `  stats: { bind: localhost, port: ${port + 100} }`,
    `  health: { bind: localhost, port: ${port + 200} }`,
    `  runtimeSocket: ${dir}/haproxy.sock`,
    `  masterSocket: ${dir}/master.sock`,
    `  stateDir: ${dir}`,
    'frontends:',
    '  - name: web',
    `    binds: [{ address: 127.0.0.1, port: ${port} }]`,
    '    accessLog: false',
    '    defaultBackend: app-0',
    '    routes:',
  ];
  for (let i = 0; i < ruleCount; i++) lines.push(`      - { when: [${ruleCondition(kind, i)}], backend: app-${i % 4} }`);
  lines.push('backends:');
  for (const b of backends) lines.push(`  - { name: ${b}, healthCheck: { type: none }, servers: [{ name: s1, address: 127.0.0.1, port: ${ports.backend} }] }`);
  return `${lines.join('\n')}\n`;
}

/** The hand-written baseline: what people write without a compiler, one ACL line per rule. */
function handWrittenConfig(ruleCount: number, port: number): string {
  const out = [
    'global', '  nbthread 1', '  maxconn 4096',
    'defaults', '  mode http', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
    'frontend web', `  bind 127.0.0.1:${port}`,
  ];
  for (let i = 0; i < ruleCount; i++) out.push(`  use_backend app-${i % 4} if { req.hdr(x-tenant) -m str tenant-${i} }`);
  out.push('  default_backend app-0');
  for (const b of backends) out.push(`backend ${b}`, `  server s1 127.0.0.1:${ports.backend}`);
  return `${out.join('\n')}\n`;
}

const backendConfig = [
  'global', '  nbthread 1', '  maxconn 8192',
  'defaults', '  mode http', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
  'frontend backend', `  bind 127.0.0.1:${ports.backend}`, '  http-request return status 200 content-type text/plain string ok',
  '',
].join('\n');

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function compile(ruleCount: number, port: number, dir: string, kind: RuleKind = 'header'): Promise<{ file: string; parseMs: number; renderMs: number }> {
  await mkdir(dir, { recursive: true });
  const text = specYaml(ruleCount, port, dir, kind);
  const t0 = performance.now();
  const parsed = parseSpec(text, { file: `bench-${ruleCount}.yaml` });
  const t1 = performance.now();
  if (!parsed.ok) throw new Error(`bench spec invalid: ${JSON.stringify(parsed.diagnostics.slice(0, 3))}`);
  const mapDir = join(dir, 'maps');
  await mkdir(mapDir, { recursive: true });
  const rendered = renderHaproxy(parsed.spec, { node: 'lb-a', specHash: parsed.hash, mapDir });
  const t2 = performance.now();
  for (const m of rendered.maps) await writeFile(join(mapDir, m.name), m.content);
  // Run the benchmark with one thread, like the baseline, and without the admin listeners' noise.
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, rendered.config.replace(/^global\n/m, 'global\n  nbthread 1\n'));
  return { file, parseMs: t1 - t0, renderMs: t2 - t1 };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'olb-bench-routing-'));
  const procs: HaproxyProcess[] = [];
  /** haproxy in master-worker mode, ready once a worker answers (its listeners are bound). */
  const start = async (config: string, dir: string): Promise<HaproxyProcess> => {
    await mkdir(dir, { recursive: true });
    return startHaproxy({ configPath: config, masterSocket: join(dir, 'master.sock'), pidFile: join(dir, 'haproxy.pid'), signal: AbortSignal.timeout(30_000) });
  };
  try {
    // Compile-time cost of a large spec (median of 5).
    const parseMs: number[] = [];
    const renderMs: number[] = [];
    const checkMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const dir = join(work, `compile-${i}`);
      const c = await compile(rules, ports.b, dir);
      parseMs.push(c.parseMs);
      renderMs.push(c.renderMs);
      const t = performance.now();
      const check = await checkHaproxyConfig(c.file);
      checkMs.push(performance.now() - t);
      if (!check.ok) throw new Error(`haproxy -c rejected the compiled config: ${check.output}`);
    }

    await writeFile(join(work, 'backend.cfg'), backendConfig);
    procs.push(await start(join(work, 'backend.cfg'), join(work, 'p-backend')));
    const a = await compile(1, ports.a, join(work, 'a'));
    const b = await compile(rules, ports.b, join(work, 'b'));
    await mkdir(join(work, 'c'), { recursive: true });
    await writeFile(join(work, 'c', 'haproxy.cfg'), handWrittenConfig(rules, ports.c));
    procs.push(await start(a.file, join(work, 'p-a')));
    procs.push(await start(b.file, join(work, 'p-b')));
    procs.push(await start(join(work, 'c', 'haproxy.cfg'), join(work, 'p-c')));
    for (const [key, count, kind] of [['e1', 1, 'query'], ['e', rules, 'query'], ['f1', 1, 'cookie'], ['f', rules, 'cookie']] as const) {
      const compiled = await compile(count, ports[key], join(work, key), kind);
      procs.push(await start(compiled.file, join(work, `p-${key}`)));
    }
    const last = `tenant-${rules - 1}`;

    const variants = [
      { key: 'a', label: '(a) 1 rule, overlay-lb', port: ports.a, header: 'X-Tenant: tenant-0' },
      { key: 'b', label: `(b) ${rules} rules, overlay-lb (map)`, port: ports.b, header: `X-Tenant: tenant-${rules - 1}` },
      { key: 'c', label: `(c) ${rules} ACL lines, hand-written`, port: ports.c, header: `X-Tenant: tenant-${rules - 1}` },
      { key: 'd', label: '(d) direct to the backend', port: ports.backend, header: `X-Tenant: tenant-${rules - 1}` },
      // The query and cookie variants: the value of the LAST rule too.
      { key: 'e1', label: '(e1) 1 query rule, overlay-lb', port: ports.e1, header: 'X-Tenant: -', path: '/?tenant=tenant-0' },
      { key: 'e', label: `(e) ${rules} query rules, overlay-lb (map)`, port: ports.e, header: 'X-Tenant: -', path: `/?x=1&tenant=${last}` },
      { key: 'f1', label: '(f1) 1 cookie rule, overlay-lb', port: ports.f1, header: 'Cookie: tenant=tenant-0' },
      { key: 'f', label: `(f) ${rules} cookie rules, overlay-lb (map)`, port: ports.f, header: `Cookie: a=1; tenant=${last}` },
    ] as const;
    const results: Record<string, WrkResult[]> = Object.fromEntries(variants.map((v) => [v.key, []]));
    const url = (v: (typeof variants)[number]): string => `http://127.0.0.1:${v.port}${'path' in v ? v.path : '/'}`;
    // Warm-up, then interleaved rounds so that drift on a shared machine hits every variant alike.
    for (const v of variants) await runWrk({ url: url(v), seconds: 1, connections: 16, threads: 1, headers: [v.header] });
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        const res = await runWrk({ url: url(v), seconds, connections: 32, threads: 1, headers: [v.header] });
        // The hand-written 10,000-line chain is slow enough for wrk's 2 s timeout on a busy
        // machine: its timeouts are recorded in its runs, not fatal. Any other error is.
        if ((res.errors > 0 && v.key !== 'c') || res.non2xx > 0) throw new Error(`${v.label}: ${res.errors} socket errors, ${res.non2xx} non-2xx`);
        results[v.key]!.push(res);
      }
    }
    const summary = Object.fromEntries(variants.map((v) => {
      const rs = results[v.key]!;
      return [v.key, { label: v.label, requestsPerSec: median(rs.map((x) => x.requestsPerSec)), p99Ms: median(rs.map((x) => x.p99Ms)), runs: rs }];
    }));
    const rps = (k: string): number => (summary[k] as { requestsPerSec: number }).requestsPerSec;
    const report = {
      benchmark: 'routing',
      date: new Date().toISOString(),
      machine: { cpus: (await import('node:os')).cpus().length },
      settings: { seconds, rounds, rules, connections: 32, wrkThreads: 1, haproxyThreads: 1 },
      compile: { rules, parseMsMedian: median(parseMs), renderMsMedian: median(renderMs), parseAndRenderMsMedian: median(parseMs.map((p, i) => p + renderMs[i]!)), haproxyCheckMsMedian: median(checkMs) },
      throughput: summary,
      ratios: {
        bOverA: rps('b') / rps('a'),
        cOverA: rps('c') / rps('a'),
        aOverD: rps('a') / rps('d'),
        eOverE1: rps('e') / rps('e1'),
        fOverF1: rps('f') / rps('f1'),
        eOverA: rps('e') / rps('a'),
        fOverA: rps('f') / rps('a'),
      },
      goals: { bOverAAtLeast: 0.95, eOverE1AtLeast: 0.95, fOverF1AtLeast: 0.95, renderMsBelow: 1000 },
    };
    await mkdir(join(process.cwd(), 'bench', 'results'), { recursive: true });
    await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify({ compile: report.compile, ratios: report.ratios, rps: Object.fromEntries(variants.map((v) => [v.key, rps(v.key)])) }, null, 2)}\n`);
  } finally {
    for (const p of procs.reverse()) await p.stop({ signal: AbortSignal.timeout(20_000), graceMs: 5000 });
    await rm(work, { recursive: true, force: true });
  }
}

await main();
