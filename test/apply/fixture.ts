/**
 * Test fixture for the apply pipeline: a temp run dir, a spec (YAML text, parsed by the real
 * parser) whose haproxy listens on 127.0.0.1 free ports, tiny named HTTP backends, a real haproxy
 * started from the rendered config, and polling helpers bounded in count and time.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import type { Spec } from '../../src/model/spec.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { desiredState } from '../../src/plan/state.js';
import { renderForState } from '../../src/apply/executor.js';
import { applyConfig, haproxyPaths } from '../../src/haproxy/config-writer.js';
import { startHaproxy, type HaproxyProcess } from '../../src/haproxy/process.js';
import { RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { findFreePort } from '../helpers/haproxy-process.js';
import { startNamedBackends, type BackendSet } from '../helpers/backends.js';

export const NODE = 'lb-a';

export interface SpecParams {
  readonly dir: string;
  readonly port: number;
  readonly statsPort: number;
  readonly healthPort: number;
  readonly agentPort: number;
  readonly blue: number;
  readonly green: number;
  /** Discovery source of backend `svc`. */
  readonly source: string;
  readonly spareSlots?: number;
  readonly active?: 'blue' | 'green';
  readonly split?: readonly [number, number];
  readonly serverTimeout?: string;
  readonly healthCheck?: string;
  /** Port of a second server `g2` of backend `green`. @default none */
  readonly green2?: number;
  /** `drainTime` of `svc`. @default "0s": removed servers leave at once (drain tests set it). */
  readonly drainTime?: string;
  /** `slowStart` of `svc`. @default absent (off) */
  readonly slowStart?: string;
}

/** A spec: `web` on 127.0.0.1:port; `/checkout` -> switch `checkout` (blue/green), `x-beta` -> split blue/green, default `svc` (discovery). */
export function specYaml(p: SpecParams): string {
  const [b, g] = p.split ?? [50, 50];
  return `version: 1
cluster:
  name: apply-test
  vip: 192.0.2.10
  nodes:
    - { name: ${NODE}, address: 127.0.0.1, zone: az-a }
  cloud: { provider: none }
admin:
  stats: { bind: localhost, port: ${p.statsPort} }
  health: { bind: localhost, port: ${p.healthPort} }
  agent: { bind: localhost, port: ${p.agentPort} }
  runtimeSocket: ${p.dir}/haproxy.sock
  masterSocket: ${p.dir}/master.sock
  stateDir: ${p.dir}
frontends:
  - name: web
    binds: [{ address: 127.0.0.1, port: ${p.port} }]
    accessLog: false
    defaultBackend: svc
    routes:
      - name: checkout
        when: [{ path: { prefix: /checkout } }]
        switch: checkout
      - name: beta
        when: [{ header: X-Beta, present: true }]
        split:
          - { backend: blue, weight: ${b} }
          - { backend: green, weight: ${g} }
switches:
  - name: checkout
    sides: { blue: blue, green: green }
    active: ${p.active ?? 'blue'}
backends:
  - name: blue
    healthCheck: { type: none }
    servers: [{ name: b1, address: 127.0.0.1, port: ${p.blue} }]
  - name: green
    healthCheck: { type: none }
    servers: [{ name: g1, address: 127.0.0.1, port: ${p.green} }${p.green2 === undefined ? '' : `, { name: g2, address: 127.0.0.1, port: ${p.green2} }`}]
  - name: svc
    discovery: { source: svc-src }
    spareSlots: ${p.spareSlots ?? 4}
    healthCheck: ${p.healthCheck ?? '{ type: none }'}
    timeouts: { server: ${p.serverTimeout ?? '30s'} }
    drainTime: ${p.drainTime ?? '0s'}${p.slowStart === undefined ? '' : `\n    slowStart: ${p.slowStart}`}
discovery:
  - ${p.source}
`;
}

export function parse(text: string, file = 'spec.yaml'): { spec: Spec; hash: string } {
  const r = parseSpec(text, { file });
  if (!r.ok) throw new Error(`test spec invalid:\n${r.diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`).join('\n')}`);
  return { spec: r.spec, hash: r.hash };
}

export interface Node {
  readonly dir: string;
  readonly params: SpecParams;
  readonly backends: BackendSet;
  readonly haproxy: HaproxyProcess;
  readonly runtime: RuntimeApi;
}

/**
 * Makes a run dir, starts backends `blue`, `green`, `s1`..`s<n>`, writes the config for an empty
 * membership and starts haproxy from it. Everything is stopped in t.after.
 */
export async function startNode(t: TestContext, options: { readonly signal: AbortSignal; readonly servers?: number; readonly source: (dir: string) => string; readonly spec?: Partial<SpecParams> }): Promise<Node> {
  const { signal } = options;
  const dir = await mkdtemp(join(tmpdir(), 'olb-apply-test-'));
  // Retries: an apply still running when a test fails may be writing into the dir (ENOTEMPTY).
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }));
  const names = ['blue', 'green', ...Array.from({ length: options.servers ?? 6 }, (_, i) => `s${i + 1}`)];
  const backends = await startNamedBackends({ names, signal });
  t.after(() => backends.close());
  const free = (): Promise<number> => findFreePort({ host: '127.0.0.1', signal });
  const params: SpecParams = {
    dir,
    port: await free(),
    statsPort: await free(),
    healthPort: await free(),
    agentPort: await free(),
    blue: backends.portOf('blue'),
    green: backends.portOf('green'),
    source: options.source(dir),
    ...options.spec,
  };
  const { spec, hash } = parse(specYaml(params));
  const empty = desiredState(spec, new Map(), { node: NODE, specHash: hash, mapDir: haproxyPaths(dir).mapDir });
  await applyConfig({ dir, ...renderForState(spec, empty, dir) }, { signal, reload: null, reason: 'test start' });
  const haproxy = await startHaproxy({ configPath: haproxyPaths(dir).config, masterSocket: join(dir, 'master.sock'), pidFile: join(dir, 'haproxy.pid'), signal });
  t.after(() => haproxy.stop({ signal: AbortSignal.timeout(20_000), graceMs: 0, termGraceMs: 5000 }));
  return { dir, params, backends, haproxy, runtime: new RuntimeApi({ socketPath: join(dir, 'haproxy.sock') }) };
}

/** Writes a file source's server list (atomically: temp file + rename). */
export async function writeServers(path: string, servers: readonly { address: string; port: number; weight?: number }[] | string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, typeof servers === 'string' ? servers : JSON.stringify(servers));
  const { rename } = await import('node:fs/promises');
  await rename(tmp, path);
}

/** Polls `check` every 25 ms until it returns a value other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, options: { readonly signal: AbortSignal; readonly timeoutMs?: number }): Promise<T> {
  const limit = options.timeoutMs ?? 15_000;
  const rounds = Math.ceil(limit / 25);
  let last: unknown;
  for (let i = 0; i < rounds; i++) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(25, undefined, { signal: options.signal });
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${last instanceof Error ? last.message : JSON.stringify(last)}`}`);
}

/** The master's reload counter. */
export async function reloads(node: Node, signal: AbortSignal): Promise<number> {
  return (await node.haproxy.master.showProc({ signal })).master.reloads;
}

/** `addr:port` of every spare slot of `backend` not in maintenance, sorted. */
export async function liveSpares(node: Node, backend: string, signal: AbortSignal): Promise<string[]> {
  const rows = await node.runtime.showServersState(backend, { signal });
  return rows.filter((r) => r.server.startsWith('olb-spare-') && r.admin !== 'maint').map((r) => `${r.addr}:${r.port}`).sort();
}
