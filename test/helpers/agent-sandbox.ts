// What the tests of the real agent (real haproxy and keepalived, provider none, in network
// namespaces) share: the spec they run, the namespaces and app server it serves, starting the
// agent, reading its control API, and stopping what the agent leaves running by design.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentStatus } from '../../src/agent-api/contract.js';
import { createSandbox } from './netns.js';
import type { Sandbox, SandboxProcess } from './netns.js';

/** The built CLI the agent runs from (`overlay-lb agent`). */
export const AGENT_CLI = join(process.cwd(), 'dist/src/cli/main.js');

/** The VIP of the specs {@link agentSpecText} writes (outside the VPC CIDR, as in AWS). */
export const AGENT_VIP = '192.168.100.10';

/** A backend for `app` inside the namespace on 127.0.0.1:8080: answers 200 "app" to everything; exits after 5 min. */
export const APP_SERVER = `require('node:http').createServer((q, r) => r.end('app')).listen(8080, '127.0.0.1'); setTimeout(() => process.exit(0), 300000);`;

/** One entry of `cluster.nodes`. */
export interface AgentSpecNode { readonly name: string; readonly address: string; readonly zone: string }

/** The parts in which the agent tests' specs differ; the rest is one frontend `web` on the VIP:80. */
export interface AgentSpecOptions {
  /** `cluster.name`. */
  readonly cluster: string;
  /** `cluster.nodes`; default one node, lb-a at 10.0.1.10 in az-a. */
  readonly nodes?: readonly AgentSpecNode[];
  /** More keys of `cluster.vrrp` after `advertInterval: 100ms`, as YAML flow text (e.g. `preemptDelay: 1s`). */
  readonly vrrp?: string;
  /** `admin.accessLog` as YAML flow text; absent: the default. */
  readonly accessLog?: string;
  /** The address of `app`'s one server (port 8080); default 127.0.0.1 ({@link APP_SERVER}). */
  readonly appAddress?: string;
  /**
   * A second backend `pool`, routed for paths under /pool, whose servers come from the discovery
   * source `source`; `discovery` is the one entry of the spec's `discovery` list (YAML flow text).
   */
  readonly pool?: { readonly source: string; readonly discovery: string };
}

/**
 * The text of a spec for the agent tests: provider none, VRRP adverts every 100 ms, admin stats and
 * health on localhost, frontend `web` on the VIP:80 with default backend `app` (no health check).
 * Text, not a model: the agent reads and validates it as an operator's file.
 */
export function agentSpecText(options: AgentSpecOptions): string {
  const nodes = options.nodes ?? [{ name: 'lb-a', address: '10.0.1.10', zone: 'az-a' }];
  const lines = [
    'version: 1',
    'cluster:',
    `  name: ${options.cluster}`,
    `  vip: ${AGENT_VIP}`,
    '  vpcCidrs: [10.0.0.0/16]',
    '  nodes:',
    ...nodes.map((n) => `    - { name: ${n.name}, address: ${n.address}, zone: ${n.zone} }`),
    `  vrrp: { advertInterval: 100ms${options.vrrp === undefined ? '' : `, ${options.vrrp}`} }`,
    'admin:',
    '  stats: { bind: localhost, port: 8404 }',
    '  health: { bind: localhost, port: 8405 }',
    ...(options.accessLog === undefined ? [] : [`  accessLog: ${options.accessLog}`]),
    'frontends:',
    '  - name: web',
    '    binds: [{ address: vip, port: 80 }]',
    ...(options.pool === undefined ? [] : ['    routes:', '      - name: to-pool', '        when: [{ path: { prefix: /pool } }]', '        backend: pool']),
    '    defaultBackend: app',
    'backends:',
    '  - name: app',
    '    healthCheck: { type: none }',
    `    servers: [{ name: s1, address: ${options.appAddress ?? '127.0.0.1'}, port: 8080 }]`,
    ...(options.pool === undefined ? [] : [
      '  - name: pool',
      '    healthCheck: { type: none }',
      `    discovery: { source: ${options.pool.source} }`,
      'discovery:',
      `  - ${options.pool.discovery}`,
    ]),
  ];
  return `${lines.join('\n')}\n`;
}

/** Sends `signal` to the pid in `file`; the pid, or null when there is none or it is gone. */
export async function killPidFile(file: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return null;
  try {
    process.kill(pid, signal);
    return pid;
  } catch {
    return null;
  }
}

/**
 * Stops the keepalived and haproxy of a node's run directory: the agent leaves them running by
 * design (a restarted agent attaches to them), so a test's cleanup stops them by their pid files.
 */
export async function stopNodeSoftware(runDir: string): Promise<void> {
  await killPidFile(join(runDir, 'keepalived.pid'), 'SIGTERM');
  await killPidFile(join(runDir, 'haproxy.pid'), 'SIGKILL');
}

/** Starts `overlay-lb agent` for `node` in namespace `ns` of `sb` (stopped by the sandbox's cleanup). */
export function spawnAgent(sb: Sandbox, ns: string, options: { readonly specFile: string; readonly node: string; readonly runDir: string; readonly cpus?: string }): SandboxProcess {
  // `cpus`: the agent (and the haproxy and keepalived it starts, which inherit its affinity) may
  // run only there (taskset -c); HAProxy's default nbthread is the number of CPUs it may use.
  const pin = options.cpus === undefined ? [] : ['taskset', '-c', options.cpus];
  return sb.spawn(ns, [...pin, process.execPath, AGENT_CLI, 'agent', '--spec', options.specFile, '--node', options.node, '--run-dir', options.runDir]);
}

/** The body of a GET of the agent's control API at `path` inside `ns`, or null while it does not answer. */
export async function agentGet(sb: Sandbox, ns: string, path: string, options: { readonly maxTimeS?: number } = {}): Promise<string | null> {
  const maxTimeS = options.maxTimeS ?? 2;
  const r = await sb.exec(ns, ['curl', '-fsS', '--max-time', String(maxTimeS), `http://127.0.0.1:8406${path}`], { signal: AbortSignal.timeout(maxTimeS * 5000), check: false });
  return r.code === 0 ? r.stdout : null;
}

/** The agent's `/status` inside `ns`, or null while it does not answer. */
export async function agentStatus(sb: Sandbox, ns: string, options: { readonly maxTimeS?: number } = {}): Promise<AgentStatus | null> {
  const body = await agentGet(sb, ns, '/status', options);
  return body === null ? null : (JSON.parse(body) as AgentStatus);
}

/** A one-node sandbox ready for an agent: namespace `ns` (eth0 10.0.1.10/24) with the app server. */
export interface AgentSandbox {
  readonly sb: Sandbox;
  /** The node's namespace. */
  readonly ns: string;
  /** A temporary directory (removed at the end) holding the spec and the run directory. */
  readonly dir: string;
  /** lb-a's run directory, inside `dir`. */
  readonly runDir: string;
  readonly specFile: string;
  /** The test's deadline for I/O. */
  readonly signal: AbortSignal;
}

/**
 * Builds the sandbox of a one-node agent test and registers its cleanup on `t` (also when an
 * assertion fails): namespaces `ns` (eth0 10.0.1.10/24, lb-a's address) and a peer (10.0.1.11/24)
 * joined by a veth pair, {@link APP_SERVER} in `ns`, and `spec.yaml` in a new temporary directory
 * written from `spec(dir)`. The cleanup stops the sandbox's processes, then the haproxy and
 * keepalived the agent left running, and removes the namespaces and the directory.
 */
export async function startAgentSandbox(t: TestContext, options: {
  /** The temporary directory's name prefix. */
  readonly tmpPrefix: string;
  /** Short names of the node's namespace and its peer. */
  readonly ns: string;
  readonly peer: string;
  readonly timeoutMs: number;
  readonly spec: (dir: string) => string | Promise<string>;
}): Promise<AgentSandbox> {
  const sb = createSandbox();
  const dir = await mkdtemp(join(tmpdir(), options.tmpPrefix));
  const runDir = join(dir, 'lb-a');
  t.after(async () => {
    await sb.cleanup();
    await stopNodeSoftware(runDir);
    await sleep(300);
    await rm(dir, { recursive: true, force: true });
  });
  const signal = AbortSignal.timeout(options.timeoutMs);
  const specFile = join(dir, 'spec.yaml');
  await writeFile(specFile, await options.spec(dir));
  const ns = await sb.addNamespace(options.ns, { signal });
  const peer = await sb.addNamespace(options.peer, { signal });
  await sb.addVeth({ ns, ifname: 'eth0', address: '10.0.1.10/24' }, { ns: peer, ifname: 'eth0', address: '10.0.1.11/24' }, { signal });
  sb.spawn(ns, [process.execPath, '-e', APP_SERVER]);
  return { sb, ns, dir, runDir, specFile, signal };
}
