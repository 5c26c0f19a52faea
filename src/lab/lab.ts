/**
 * The lab as one object, for tests, benchmarks and the CLI: bring a lab up from a spec, drive it
 * (exec, spawn, faults, requests through the VIP), read its status, take it down.
 *
 * `startLab` runs the controller in the calling process (not as a child process): a test then
 * holds the cloud and the fault objects directly, start-up costs no second Node process, and a
 * crashed test leaves only what the state file records (`stopLab` / `lab down` remove it). The
 * CLI runs the same controller as the detached `lab serve` process; both publish the same files
 * and control socket, so `overlay-lb lab status|fault` work against either.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Spec } from '../model/spec.js';
import { loadSpecFile } from '../ops/load-spec.js';
import { planLab, type LabPlan } from './plan.js';
import { buildLab, destroyLab, openLab, type Lab, type LabLogger, type LabStatus } from './topology.js';
import { readLabState, labStateFilePath, type LabState } from './state-file.js';
import { labFiles, readJson, startLabController, type ControllerInfo, type LabController, type LabFault } from './controller.js';
import { killRecordedProcess, namespacePids, readProcessStartTime, type CommandResult, type RecordedProcess } from './netns.js';
import { requireInstance } from './datapath.js';
import { killLabProcess } from './infra-faults.js';
import type { LabCredential } from './ec2/policy.js';
import type { World } from './ec2/state.js';
import { SystemError, UserError } from '../util/errors.js';
import { unixHttpRequest } from '../util/http-request.js';
import { nodePaths } from '../util/node-paths.js';
import { ownProgramArgv, ownProgramScript, runningAsSingleExecutable } from '../util/own-program.js';
import { AGENT_UNIT_CAPABILITIES } from '../ops/agent-unit.js';

export type { LabFault } from './controller.js';

/** The node programs `killLabNodeProcess` can crash. */
export type LabNodeProgram = 'haproxy' | 'keepalived' | 'agent';

export interface StartLabOptions {
  /** The spec file (needed when `nodes` is true: the agent reads it). */
  readonly specFile?: string;
  /** A parsed spec, instead of `specFile`. */
  readonly spec?: Spec;
  /** @default 2 */
  readonly azs?: 2 | 3;
  /** Namespace prefix; tests use a unique one such as `olbt<pid>`. @default "olb-" */
  readonly prefix?: string;
  /** Start the node software (the agent, which starts haproxy and keepalived) on every LB node. @default true */
  readonly nodes?: boolean;
  /**
   * A bare account (`lab up --bare`): the VPC with subnets in three AZs, route tables, an internet
   * gateway, clients and backends, but no LB nodes, no LB role and no node software; a test
   * launches and provisions the nodes through the API. Implies `azs: 3`. @default false
   */
  readonly bare?: boolean;
  /** @default "/run/overlay-lb-lab" */
  readonly stateDir?: string;
  /**
   * Bounds the start-up only (a deadline such as `AbortSignal.timeout(60_000)` is fine): once
   * started, the lab (its EC2 API, IMDS, relays) runs until `close()`, however long the caller
   * uses it.
   */
  readonly signal: AbortSignal;
  readonly log?: LabLogger & { error(fields: Readonly<Record<string, unknown>>, message: string): void };
  /**
   * The program the LB nodes run as `PROGRAM agent ...`: the packaged single executable (for
   * example `usr/bin/overlay-lb` from the .deb, extracted with `dpkg-deb -x`), so that what ships
   * is what the lab tests; `withPrivileges` also applies the hardened unit's restrictions.
   * @default this build's CLI on this process's Node runtime, with no restriction
   */
  readonly agentCommand?: AgentCommand;
}

/** How the lab starts the agent on its LB nodes (`StartLabOptions.agentCommand`). */
export interface AgentCommand {
  /** An executable that runs the overlay-lb CLI (the packaged `/usr/bin/overlay-lb`). */
  readonly executable: string;
  /**
   * Start it under the packaged systemd unit's capability bounding set and no_new_privs (with
   * `setpriv`), as far as this can be done without systemd. @default false
   */
  readonly restricted?: boolean;
}

/** The answer to a request through the VIP. */
export interface LabHttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A running lab. */
export interface LabHandle {
  readonly plan: LabPlan;
  readonly stateFile: string;
  /** The host's EC2 API endpoint (`http://127.0.0.1:PORT/`). */
  readonly apiUrl: string;
  /** The lab administrator (allowed everything), for the host. */
  readonly adminCredentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly region: string };
  readonly controller: LabController;
  /** Why node software was not started, when it was asked for but could not be (null otherwise). */
  readonly nodesSkipped: string | null;
  exec(node: string, argv: readonly string[], options: { readonly signal: AbortSignal; readonly allowFailure?: boolean; readonly timeoutMs?: number }): Promise<CommandResult>;
  spawn(node: string, argv: readonly string[], options: { readonly signal: AbortSignal; readonly label: string; readonly readyLine?: string; readonly logFile?: string }): Promise<RecordedProcess>;
  readonly faults: {
    inject(fault: LabFault): Promise<void>;
    clear(fault: LabFault): Promise<void>;
    clearAll(): Promise<void>;
    active(): readonly LabFault[];
    /** Crashes haproxy, keepalived or the agent on a node (SIGKILL). */
    kill(node: string, program: LabNodeProgram, options: { readonly signal: AbortSignal }): Promise<'killed' | 'gone'>;
  };
  /** Which LB node each route table's VIP route reaches: the kernel's view (default) or the API's. */
  routeTargets(options?: { readonly view?: 'kernel' | 'api'; readonly signal?: AbortSignal }): Promise<Map<string, string | null>>;
  /** Resolves once every API change so far is applied to the kernel. */
  settled(): Promise<void>;
  /** An HTTP GET through the VIP from the client instance of `clientAz`. */
  request(clientAz: string, options: { readonly path?: string; readonly headers?: Readonly<Record<string, string>>; readonly port?: number; readonly timeoutMs?: number; readonly signal: AbortSignal }): Promise<LabHttpResponse>;
  /** Stops the controller and removes everything the lab made. Idempotent. */
  close(): Promise<void>;
}

/** The compiled CLI entry point (dist/src/cli/main.js). */
export function cliEntryPoint(): string {
  return ownProgramScript('cli');
}

/** Whether the agent command is built (it is written separately from the lab). */
export function agentAvailable(command?: AgentCommand): boolean {
  if (command !== undefined) return isExecutableFile(command.executable);
  return runningAsSingleExecutable() || existsSync(fileURLToPath(new URL('../cli/commands/agent.js', import.meta.url)));
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The argument vector before `agent ...` on an LB node: this build's CLI, or the given
 * executable, under the packaged unit's restrictions when asked (`setpriv`: bounding set,
 * no_new_privs; see `AGENT_UNIT_CAPABILITIES`).
 */
export function agentCommandArgv(command?: AgentCommand): string[] {
  const program = command === undefined ? ownProgramArgv('cli', []) : [command.executable];
  if (command?.restricted !== true) return program;
  const caps = AGENT_UNIT_CAPABILITIES.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
  return ['setpriv', `--bounding-set=-all,${caps}`, '--inh-caps=-all', '--no-new-privs', '--', ...program];
}

/** Loads the spec of the options and plans the lab. */
export async function planFromOptions(options: Pick<StartLabOptions, 'specFile' | 'spec' | 'azs' | 'prefix' | 'bare'> & { readonly signal: AbortSignal }): Promise<{ spec: Spec; plan: LabPlan }> {
  const bare = options.bare === true;
  if (bare && options.azs === 2) throw new UserError('LAB_PLAN_INVALID', 'a bare account has subnets in three AZs: drop --azs 2 (or pass --azs 3)');
  let spec = options.spec;
  if (spec === undefined) {
    if (options.specFile === undefined) throw new UserError('CLI_USAGE', 'startLab needs a spec or a specFile (for example examples/demo.yaml)');
    spec = (await loadSpecFile(options.specFile, { signal: options.signal })).spec;
  }
  const plan = planLab(spec, {
    azs: options.azs ?? (bare ? 3 : 2), bare, ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    // The VIP is not the LB nodes' own address: their check is off, as the overlay IP design requires.
    lbSourceDestCheck: false,
  });
  return { spec, plan };
}

/**
 * Brings a lab up in this process: namespaces, kernel tables, backends, the controller (EC2 API,
 * IMDS, relays) and, unless `nodes` is false, the agent on every LB node.
 * On failure everything made so far is removed.
 * @throws UserError LAB_EXISTS, LAB_NOT_ROOT, LAB_PLAN_INVALID, SpecInvalidError; SystemError LAB_COMMAND_FAILED, LAB_LISTEN
 */
export async function startLab(options: StartLabOptions): Promise<LabHandle> {
  const { signal } = options;
  const { spec, plan } = await planFromOptions(options);
  const built = await buildLab(plan, { signal, ...(options.log === undefined ? {} : { log: options.log }), ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }) });
  const stateFile = built.stateFilePath;
  let controller: LabController | undefined;
  // The controller's servers live until close(), not until the start-up deadline: with the
  // caller's signal as their lifetime, a test's `AbortSignal.timeout(60_000)` stopped the EC2 API
  // 60 s after the lab started (every later call: ECONNRESET), which failed any test that ran
  // longer, on a busy machine most of them.
  const lifetime = new AbortController();
  const abortStart = (): void => lifetime.abort(signal.reason);
  signal.addEventListener('abort', abortStart, { once: true });
  try {
    controller = await startLabController({
      stateFile, signal: lifetime.signal, failover: spec.cluster.cloud.failover,
      ...(spec.cluster.cloud.eipAllocationId === undefined ? {} : { eipAllocationId: spec.cluster.cloud.eipAllocationId }),
      ...(options.log === undefined ? {} : { log: options.log }),
    });
    let nodesSkipped: string | null = null;
    if ((options.nodes ?? true) && options.bare !== true) {
      nodesSkipped = await startNodeSoftware(controller.lab, { specFile: options.specFile, signal, ...(options.agentCommand === undefined ? {} : { agentCommand: options.agentCommand }) });
    }
    signal.removeEventListener('abort', abortStart);
    return labHandle(controller, nodesSkipped);
  } catch (error) {
    signal.removeEventListener('abort', abortStart);
    await controller?.close().catch(() => undefined);
    await stopLab(stateFile, { signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
    throw error;
  }
}

/**
 * Starts the agent on every LB node (`overlay-lb agent --spec SPEC --node NAME --run-dir DIR`),
 * recorded in the state file with the label `agent NODE`. The agent starts haproxy and keepalived
 * itself and writes their pid files (haproxy.pid, keepalived.pid) into its run dir.
 * @returns null when started, or why not (no spec file, agent not built).
 */
export async function startNodeSoftware(lab: Lab, options: { readonly specFile: string | undefined; readonly agentCommand?: AgentCommand; readonly signal: AbortSignal }): Promise<string | null> {
  if (options.specFile === undefined) return 'node software needs a spec file (the agent reads it); none was given';
  if (options.agentCommand !== undefined && !agentAvailable(options.agentCommand)) {
    throw new UserError('PATH_INVALID', `the agent executable ${JSON.stringify(options.agentCommand.executable)} is not an executable file; give the packaged overlay-lb (usr/bin/overlay-lb of a .deb extracted with dpkg-deb -x), or leave the option out to run this build`);
  }
  if (!agentAvailable()) return 'the agent is not built yet (dist/src/cli/commands/agent.js is missing): the LB nodes run no haproxy/keepalived';
  const files = labFiles(lab.stateFilePath, lab.plan.prefix);
  for (const node of lab.plan.instances.filter((i) => i.role === 'lb-node')) {
    const runDir = nodeRunDir(files.dir, node.name);
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    await lab.spawn(node.name, [...agentCommandArgv(options.agentCommand), 'agent', '--spec', options.specFile, '--node', node.name, '--run-dir', runDir], {
      signal: options.signal, label: `agent ${node.name}`, logFile: nodePaths(runDir).agentLog,
    });
  }
  return null;
}

/** The agent's run directory of a node, inside the lab directory. */
export function nodeRunDir(labDir: string, node: string): string {
  return join(labDir, 'nodes', node);
}

function labHandle(controller: LabController, nodesSkipped: string | null): LabHandle {
  const { lab } = controller;
  const plan = lab.plan;
  let closed: Promise<void> | undefined;
  return {
    plan,
    stateFile: lab.stateFilePath,
    apiUrl: controller.info.apiUrl,
    adminCredentials: { ...controller.info.admin, region: plan.region },
    controller,
    nodesSkipped,
    exec: (node, argv, options) => lab.exec(node, argv, options),
    spawn: (node, argv, options) => lab.spawn(node, argv, options),
    faults: {
      inject: (fault) => controller.inject(fault),
      clear: (fault) => controller.clear(fault),
      clearAll: () => controller.clearAll(),
      active: () => controller.activeFaults(),
      kill: (node, program, options) => killLabNodeProcess(lab.stateFilePath, node, program, options),
    },
    routeTargets: async (options = {}) => {
      if (options.view === 'api') return apiRouteTargets(plan, controller.cloud.view());
      await controller.settled();
      const status = await lab.status({ signal: options.signal ?? AbortSignal.timeout(30_000) });
      return new Map(status.routeTables.map((t) => [t.id, t.vipRoute?.instance ?? null]));
    },
    settled: () => controller.settled(),
    request: (clientAz, options) => requestThroughVip(lab, clientAz, options),
    close: () => {
      closed ??= (async () => {
        await controller.close();
        await stopLab(lab.stateFilePath, { signal: AbortSignal.timeout(60_000) });
      })();
      return closed;
    },
  };
}

/** Per route table, the LB node its VIP route targets in an API world (null: no route, or not an LB node). */
export function apiRouteTargets(plan: LabPlan, world: World): Map<string, string | null> {
  const targets = new Map<string, string | null>();
  for (const table of plan.routeTables) {
    const route = world.routeTables[table.id]?.routes.find((r) => r.destinationCidrBlock === `${plan.vip}/32`);
    const eniId = route?.target.kind === 'eni' ? route.target.networkInterfaceId : null;
    targets.set(table.id, plan.instances.find((i) => i.eni.id === eniId)?.name ?? null);
  }
  return targets;
}


/** An HTTP GET to the VIP from the client instance of an AZ (node's fetch inside its namespace). */
export async function requestThroughVip(
  lab: Lab,
  clientAz: string,
  options: { readonly path?: string; readonly headers?: Readonly<Record<string, string>>; readonly port?: number; readonly timeoutMs?: number; readonly signal: AbortSignal },
): Promise<LabHttpResponse> {
  const client = lab.plan.instances.find((i) => i.role === 'client' && i.az === clientAz);
  if (client === undefined) throw new UserError('LAB_UNKNOWN_NAME', `AZ ${JSON.stringify(clientAz)} has no lab client: known are ${lab.plan.azs.join(', ')}`);
  const url = `http://${lab.plan.vip}:${options.port ?? 80}${options.path ?? '/'}`;
  const timeoutMs = options.timeoutMs ?? 3000;
  const { stdout } = await lab.exec(client.name, ownProgramArgv('vip-request', [url, JSON.stringify(options.headers ?? {}), String(timeoutMs)]), {
    signal: options.signal, timeoutMs: timeoutMs + 10_000,
  });
  const parsed = JSON.parse(stdout) as LabHttpResponse | { error: string };
  if ('error' in parsed) throw new SystemError('LAB_COMMAND_FAILED', `request from ${client.name} to ${url} failed: ${parsed.error}`, { details: { url, client: client.name } });
  return parsed;
}

/**
 * Crashes a node program with SIGKILL: the agent by its state-file record, haproxy and keepalived
 * by the pid files the agent writes in its run dir (checked to run inside the node's namespace).
 * @throws UserError LAB_UNKNOWN_NAME when the node or the process is unknown.
 */
export async function killLabNodeProcess(stateFile: string, node: string, program: LabNodeProgram, options: { readonly signal: AbortSignal }): Promise<'killed' | 'gone'> {
  const state = await readLabState(stateFile, options);
  if (state === null) throw new UserError('LAB_NOT_FOUND', `no lab is up: state file ${stateFile} does not exist`);
  const instance = requireInstance(state.plan, node);
  if (program === 'agent') return killLabProcess(stateFile, { label: `agent ${instance.name}` }, options);
  const pidFile = join(nodeRunDir(labFiles(stateFile, state.plan.prefix).dir, instance.name), `${program}.pid`);
  const text = await readFile(pidFile, 'utf8').catch(() => null);
  const pid = Number(text?.trim());
  if (text === null || !Number.isInteger(pid) || pid <= 0) {
    throw new UserError('LAB_UNKNOWN_NAME', `no ${program} pid file at ${pidFile}: is the agent running on ${instance.name}? (lab status)`);
  }
  if (!(await namespacePids(instance.namespace, options)).includes(pid)) return 'gone';
  return killRecordedProcess({ pid, startTime: await readProcessStartTime(pid, options) }, { ...options, killSignal: 'SIGKILL', graceMs: 2000 });
}

/**
 * Takes a lab down: stops the controller and every recorded process, removes the namespaces and
 * files (`destroyLab`), then the lab directory with whatever node software left in it.
 * Idempotent: a lab that is not up is no error.
 */
export async function stopLab(stateFile: string, options: { readonly signal: AbortSignal }): Promise<{ wasUp: boolean }> {
  const state = await readLabState(stateFile, options);
  await destroyLab(stateFile, options);
  if (state !== null) await rm(labFiles(stateFile, state.prefix).dir, { recursive: true, force: true });
  return { wasUp: state !== null };
}

/** The state file of a lab by prefix and state dir. */
export function labStateFile(options: { readonly prefix?: string; readonly stateDir?: string }): string {
  return labStateFilePath({ prefix: options.prefix ?? 'olb-', ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }) });
}

/** Everything `lab status` shows. */
export interface LabStatusReport {
  readonly prefix: string;
  readonly stateFile: string;
  readonly vip: string;
  readonly vpcId: string;
  readonly apiUrl: string | null;
  readonly controller: { readonly pid: number | null; readonly alive: boolean };
  readonly namespaces: LabStatus['namespaces'];
  readonly processes: readonly { readonly label: string; readonly pid: number | null; readonly alive: boolean }[];
  readonly routeTables: readonly {
    readonly id: string;
    readonly main: boolean;
    readonly subnets: readonly string[];
    /** LB node of the kernel's VIP route (null: none). */
    readonly kernel: string | null;
    /** LB node of the API's VIP route (null: none; undefined when the cloud file is missing). */
    readonly api: string | null | undefined;
    readonly agree: boolean;
  }[];
  readonly faults: readonly LabFault[];
}

/** Collects the status of a lab from its state file, the kernel and the controller's files. @throws UserError LAB_NOT_FOUND */
export async function collectLabStatus(stateFile: string, options: { readonly signal: AbortSignal }): Promise<LabStatusReport> {
  const { signal } = options;
  const lab = await openLab({ signal, stateFile });
  const state = (await readLabState(stateFile, { signal })) as LabState;
  const plan = lab.plan;
  const files = labFiles(stateFile, plan.prefix);
  const kernel = await lab.status({ signal });
  const info = await readJson<ControllerInfo>(files.info);
  const cloud = await readJson<{ world: World }>(files.cloud);
  const apiTargets = cloud === null ? null : apiRouteTargets(plan, cloud.world);
  const processes = [];
  let controller: { pid: number | null; alive: boolean } = { pid: null, alive: false };
  for (const r of state.resources) {
    if (r.kind !== 'process') continue;
    const alive = r.pid !== null && r.startTime !== null && (await readProcessStartTime(r.pid, { signal })) === r.startTime;
    processes.push({ label: r.label, pid: r.pid, alive });
    if (r.label === 'controller') controller = { pid: r.pid, alive };
  }
  if (controller.pid === null && info?.pid === process.pid) controller = { pid: process.pid, alive: true };
  const subnetName = (id: string): string => plan.subnets.find((s) => s.id === id)?.name ?? id;
  return {
    prefix: plan.prefix,
    stateFile,
    vip: plan.vip,
    vpcId: plan.vpc.id,
    apiUrl: info?.apiUrl ?? null,
    controller,
    namespaces: kernel.namespaces,
    processes,
    routeTables: kernel.routeTables.map((t) => {
      const k = t.vipRoute?.instance ?? null;
      const a = apiTargets === null ? undefined : (apiTargets.get(t.id) ?? null);
      return { id: t.id, main: t.main, subnets: (t.main ? plan.subnets.filter((s) => s.routeTableId === t.id).map((s) => s.id) : t.subnetIds).map(subnetName), kernel: k, api: a, agree: a === undefined || a === k };
    }),
    faults: (await readJson<LabFault[]>(files.faults)) ?? [],
  };
}

/**
 * Sends a request to a lab controller's control socket.
 * @throws SystemError LAB_CONTROLLER when it does not answer; the controller's own error (code and message) when it refuses.
 */
export async function controlRequest(socketPath: string, request: { readonly method: 'GET' | 'POST'; readonly path: string; readonly body?: unknown }, options: { readonly signal: AbortSignal }): Promise<unknown> {
  const { status, text } = await unixHttpRequest(socketPath, request.method, request.path, request.body, options).catch((cause: unknown) => {
    throw new SystemError('LAB_CONTROLLER', `the lab controller does not answer on ${socketPath}: ${(cause as Error).message}; check \`overlay-lb lab status\` (restart it with \`overlay-lb lab serve\`, or \`lab down\` and \`lab up\`)`, { cause });
  });
  const parsed = JSON.parse(text) as { error?: { code: string; message: string } };
  if (status !== 200) {
    const code = parsed.error?.code ?? 'LAB_CONTROLLER';
    const message = parsed.error?.message ?? `the lab controller answered ${status}`;
    throw code === 'LAB_CONTROLLER' || code === 'INTERNAL' ? new SystemError(code, message) : new UserError(code as 'LAB_FAULT_INVALID', message);
  }
  return parsed;
}

export type { LabCredential };
