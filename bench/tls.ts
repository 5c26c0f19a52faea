/**
 * Benchmark: what 1,000 certificates chosen by SNI cost HAProxy, against one certificate, side by
 * side in one run (issue 21, goal: >= 0.9 of the 1-certificate figures).
 *
 *   (a) one certificate (`tls.certificates: [one]`)
 *   (b) 1,000 certificates chosen by name (`tls.sni`, a 1,000-line crt-list, + a default)
 *
 * Three measures per variant, interleaved over rounds so drift on a shared machine hits both alike:
 *   - handshakes/s, named: a Node client opening a new TLS connection per request with a real
 *     server name (a: the one name; b: names spread over all 1,000 entries), GET, close;
 *   - handshakes/s, wrk: `Connection: close`, so every request is a new TCP connection and a full
 *     handshake (wrk sends the URL's host, 127.0.0.1, as the server name: in (b) a lookup that
 *     misses all 1,000 names and ends at the default certificate, the longest path);
 *   - requests/s over TLS: wrk with keep-alive connections.
 * ECDSA P-256 certificates (self-signed: the clients do not verify), TLS 1.3, HAProxy with one
 * thread answering 200 itself (no backend in the path). Also reported: render time of the spec
 * and `haproxy -c` time with 1,000 certificates.
 *
 * Usage: node dist/bench/tls.js [--seconds 5] [--rounds 3] [--certs 1000] [--out bench/results/tls.json]
 * Traffic goes to 127.0.0.1 only; every load run is bounded by --seconds.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect } from 'node:tls';
import { parseArgs, promisify } from 'node:util';
import { parseSpec } from '../src/speclang/parse.js';
import { renderHaproxy } from '../src/render/haproxy.js';
import { checkHaproxyConfig } from '../src/haproxy/check.js';
import { startHaproxy, type HaproxyProcess } from '../src/haproxy/process.js';
import { runWrk, type WrkResult } from './lib/wrk.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, certs: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '8' }, out: { type: 'string', default: 'bench/results/tls.json' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const certCount = Number(values.certs);
const concurrency = Number(values.concurrency);
const basePort = 19000 + (process.pid % 400) * 8;
const ports = { a: basePort, b: basePort + 1 };
const run = promisify(execFile);

const nameOf = (i: number): string => `h${i}.bench.test`;

/** Self-signed ECDSA P-256 certificate + key for `name` in one PEM file. */
async function makeCert(dir: string, i: number): Promise<string> {
  const file = join(dir, `c${i}.pem`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file, '-out', `${file}.crt`, '-days', '2', '-subj', `/CN=${nameOf(i)}`, '-addext', `subjectAltName=DNS:${nameOf(i)}`]);
  const { readFile } = await import('node:fs/promises');
  await writeFile(file, (await readFile(`${file}.crt`, 'utf8')) + (await readFile(file, 'utf8')));
  return file;
}

function specYaml(dir: string, port: number, tls: string): string {
  return [
    'version: 1',
    'cluster:',
    '  name: bench',
    '  vip: 192.168.100.10',
    '  vpcCidrs: [10.0.0.0/16]',
    '  nodes: [{ name: lb-a, address: 10.0.1.10, zone: az-a }]',
    'admin:',
    `  stats: { enabled: false, bind: localhost, port: ${port + 100} }`,
    `  health: { bind: localhost, port: ${port + 200} }`,
    `  runtimeSocket: ${dir}/haproxy.sock`,
    `  masterSocket: ${dir}/master.sock`,
    `  stateDir: ${dir}`,
    'frontends:',
    '  - name: web',
    `    binds: [{ address: 127.0.0.1, port: ${port}, tls: ${tls} }]`,
    '    accessLog: false',
    '    forwardedFor: false',
    '    defaultBackend: app',
    'backends:',
    '  - { name: app, healthCheck: { type: none }, servers: [{ name: s1, address: 127.0.0.1, port: 9 }] }',
    '',
  ].join('\n');
}

async function compile(dir: string, port: number, tls: string): Promise<{ file: string; renderMs: number; checkMs: number }> {
  await mkdir(join(dir, 'maps'), { recursive: true });
  const t0 = performance.now();
  const parsed = parseSpec(specYaml(dir, port, tls), { file: 'bench-tls.yaml' });
  if (!parsed.ok) throw new Error(`bench spec invalid: ${JSON.stringify(parsed.diagnostics.slice(0, 3))}`);
  const rendered = renderHaproxy(parsed.spec, { node: 'lb-a', specHash: parsed.hash, mapDir: join(dir, 'maps') });
  const renderMs = performance.now() - t0;
  for (const m of rendered.maps) await writeFile(join(dir, 'maps', m.name), m.content);
  // One thread, and the frontend answers 200 itself: the TLS termination is what is measured.
  const config = rendered.config
    .replace(/^global\n/m, 'global\n  nbthread 1\n')
    .replace(/^ {2}default_backend app$/m, '  http-request return status 200 content-type text/plain string ok\n  default_backend app');
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  const t1 = performance.now();
  const check = await checkHaproxyConfig(file);
  const checkMs = performance.now() - t1;
  if (!check.ok) throw new Error(`haproxy -c rejected the config: ${check.output}`);
  return { file, renderMs, checkMs };
}

/** New TLS connection + GET + close, `concurrency` at a time, for `seconds`; server names from `names`. */
async function namedHandshakes(port: number, names: readonly string[]): Promise<{ handshakesPerSec: number; errors: number; count: number }> {
  const until = performance.now() + seconds * 1000;
  let count = 0;
  let errors = 0;
  let next = 0;
  const one = (servername: string): Promise<void> => new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], sessionTimeout: 0 });
    s.setTimeout(10_000, () => { errors++; s.destroy(); resolve(); });
    s.once('error', () => { errors++; resolve(); });
    s.once('secureConnect', () => s.end('GET / HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n'));
    s.once('data', () => { count++; s.destroy(); resolve(); });
  });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) await one(names[(next++ * 7919) % names.length] ?? '');
  }));
  return { handshakesPerSec: count / ((performance.now() - t0) / 1000), errors, count };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'olb-bench-tls-'));
  const procs: HaproxyProcess[] = [];
  try {
    const certDir = join(work, 'certs');
    await mkdir(certDir);
    const tGen = performance.now();
    const files: string[] = [];
    for (let i = 0; i < certCount + 1; i += 4) {
      files.push(...(await Promise.all(Array.from({ length: Math.min(4, certCount + 1 - i) }, (_, k) => makeCert(certDir, i + k)))));
    }
    const generateMs = performance.now() - tGen;
    const entries = files.slice(1).map((f, i) => `{ names: [${nameOf(i + 1)}], certificate: ${f} }`);
    const a = await compile(join(work, 'a'), ports.a, `{ certificates: [${files[0]}], minVersion: TLSv1.3 }`);
    const b = await compile(join(work, 'b'), ports.b, `{ defaultCertificate: ${files[0]}, sni: [${entries.join(', ')}], minVersion: TLSv1.3 }`);
    const start = async (file: string, dir: string): Promise<HaproxyProcess> => {
      const t0 = performance.now();
      const p = await startHaproxy({ configPath: file, masterSocket: join(dir, 'master.sock'), pidFile: join(dir, 'haproxy.pid'), signal: AbortSignal.timeout(120_000) });
      procs.push(p);
      return Object.assign(p, { startMs: performance.now() - t0 });
    };
    const pa = await start(a.file, join(work, 'a'));
    const pb = await start(b.file, join(work, 'b'));
    const startMs = { a: (pa as unknown as { startMs: number }).startMs, b: (pb as unknown as { startMs: number }).startMs };

    const variants = [
      { key: 'a', label: '(a) 1 certificate', port: ports.a, names: [nameOf(0)] },
      { key: 'b', label: `(b) ${certCount} certificates by SNI`, port: ports.b, names: Array.from({ length: certCount }, (_, i) => nameOf(i + 1)) },
    ] as const;
    type Round = { named: { handshakesPerSec: number; errors: number; count: number }; wrkClose: WrkResult; wrkKeepAlive: WrkResult };
    const results: Record<string, Round[]> = { a: [], b: [] };
    for (const v of variants) await runWrk({ url: `https://127.0.0.1:${v.port}/`, seconds: 1, connections: 16, threads: 1 });
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        const named = await namedHandshakes(v.port, v.names);
        const wrkClose = await runWrk({ url: `https://127.0.0.1:${v.port}/`, seconds, connections: 16, threads: 1, headers: ['Connection: close'] });
        const wrkKeepAlive = await runWrk({ url: `https://127.0.0.1:${v.port}/`, seconds, connections: 32, threads: 1 });
        for (const [what, w] of [['close', wrkClose], ['keep-alive', wrkKeepAlive]] as const) {
          if (w.non2xx > 0) throw new Error(`${v.label} wrk ${what}: ${w.non2xx} non-2xx`);
        }
        if (named.errors > 0) throw new Error(`${v.label}: ${named.errors} failed handshakes`);
        results[v.key]!.push({ named, wrkClose, wrkKeepAlive });
      }
    }
    const summary = Object.fromEntries(variants.map((v) => {
      const rs = results[v.key]!;
      return [v.key, {
        label: v.label,
        namedHandshakesPerSec: median(rs.map((x) => x.named.handshakesPerSec)),
        wrkHandshakesPerSec: median(rs.map((x) => x.wrkClose.requestsPerSec)),
        wrkHandshakeSocketErrors: rs.reduce((s, x) => s + x.wrkClose.errors, 0),
        requestsPerSec: median(rs.map((x) => x.wrkKeepAlive.requestsPerSec)),
        p99Ms: median(rs.map((x) => x.wrkKeepAlive.p99Ms)),
        runs: rs,
      }];
    })) as unknown as Record<'a' | 'b', { namedHandshakesPerSec: number; wrkHandshakesPerSec: number; requestsPerSec: number }>;
    const report = {
      benchmark: 'tls',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length },
      settings: { seconds, rounds, certificates: certCount, namedClientConcurrency: concurrency, wrkConnectionsHandshake: 16, wrkConnectionsKeepAlive: 32, wrkThreads: 1, haproxyThreads: 1, key: 'ECDSA P-256', tls: 'TLSv1.3' },
      setup: { generateCertificatesMs: generateMs, renderMs: { a: a.renderMs, b: b.renderMs }, haproxyCheckMs: { a: a.checkMs, b: b.checkMs }, haproxyStartMs: startMs },
      throughput: summary,
      ratios: {
        namedHandshakesBOverA: summary.b.namedHandshakesPerSec / summary.a.namedHandshakesPerSec,
        wrkHandshakesBOverA: summary.b.wrkHandshakesPerSec / summary.a.wrkHandshakesPerSec,
        requestsBOverA: summary.b.requestsPerSec / summary.a.requestsPerSec,
      },
      goals: { bOverAAtLeast: 0.9 },
    };
    await mkdir(join(process.cwd(), 'bench', 'results'), { recursive: true });
    await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify({ setup: report.setup, ratios: report.ratios, a: { ...summary.a, runs: undefined }, b: { ...summary.b, runs: undefined } }, null, 2)}\n`);
  } finally {
    for (const p of procs.reverse()) await p.stop({ signal: AbortSignal.timeout(20_000), graceMs: 5000 });
    await rm(work, { recursive: true, force: true });
  }
}

await main();
