/**
 * Builds and destroys the lab's namespaces from a `LabPlan` (src/lab/plan.ts).
 *
 * What `buildLab` makes (nothing in the host's own namespace: links are created inside lab
 * namespaces, so the host's links, addresses, routes and firewall never change):
 * - the router namespace: one bridge per subnet (gateway `.1`), a policy rule per subnet
 *   (`iif <bridge> lookup <table>`), one kernel table per VPC route table holding the VPC-local
 *   routes, the internet route and a blackhole default (a table with no route for a destination
 *   drops it, as a VPC does, instead of falling through to another table); IP forwarding on;
 *   the iptables chains of `LAB_CHAINS`; the service addresses (IMDS, API) on `lo`; no ICMP
 *   redirects (`ROUTER_NO_REDIRECTS`), as a VPC router sends none;
 * - one namespace per instance with `eth0` (the ENI's MAC and address) plugged into its subnet's
 *   bridge, and a default route via the gateway; LB nodes also carry the VIP on `lo`;
 * - the internet namespace (the internet client) behind the router's public interface;
 * - backend name servers (src/lab/backend-server.ts) on every backend instance.
 *
 * rp_filter is 0 in every lab namespace. The router needs it: a node answers VIP traffic with
 * the VIP as source, and the reverse-path lookup for the VIP in that subnet's table can point at
 * another node's subnet (after a route move), which strict rp_filter would drop. The LB nodes get
 * it too, so that VIP traffic arriving on `eth0` for an address on `lo` is accepted whatever the
 * reverse path of its source is.
 */
import { rm, rmdir } from 'node:fs/promises';
import type { LabInstance, LabPlan } from './plan.js';
import { findInstance, planNamespaces } from './plan.js';
import { LabStateFile, labStateFilePath, readLabState } from './state-file.js';
import {
  execIn, ipIn, iptablesIn, killRecordedProcess, listNamespaces, namespacePids, runCommand, spawnInNamespace, stopNamespaceProcesses, sysctlIn,
  type CommandResult, type RecordedProcess,
} from './netns.js';
import { createKernelDataPath, LAB_CHAINS, requireInstance, type KernelDataPath } from './datapath.js';
import { formatNameServerArgs, NAME_SERVER_READY_LINE, type NameListener } from './backend-server.js';
import { RELAY_READY_LINE } from './netns-relay.js';
import { SystemError, UserError } from '../util/errors.js';
import { ownProgramArgv } from '../util/own-program.js';

/** A structured logger (the shape of src/util's logger). */
export interface LabLogger {
  info(fields: Readonly<Record<string, unknown>>, message: string): void;
}

export interface BuildLabOptions {
  readonly signal: AbortSignal;
  readonly log?: LabLogger;
  /** Directory of the state file. @default "/run/overlay-lb-lab" */
  readonly stateDir?: string;
}

/** A built (or re-opened) lab. */
export interface Lab {
  readonly plan: LabPlan;
  readonly stateFilePath: string;
  readonly datapath: KernelDataPath;
  /** Runs a program inside an instance (by name, instance id or ENI id), the router (`router`) or the internet client (`internet`). */
  exec(node: string, argv: readonly string[], options: { readonly signal: AbortSignal; readonly allowFailure?: boolean; readonly timeoutMs?: number }): Promise<CommandResult>;
  /** What exists and where each route table sends the VIP. */
  status(options: { readonly signal: AbortSignal }): Promise<LabStatus>;
  /** Starts a name server (answers NAME) in an instance, recorded in the state file. */
  startNameServer(node: string, listeners: readonly NameListener[], options: { readonly signal: AbortSignal }): Promise<RecordedProcess>;
  /**
   * Starts a relay in the router namespace: connections to `listen` (for example the plan's
   * `router.serviceAddresses.api`, port 80) go to the unix socket `unixPath`, where the host serves
   * them with `startUnixToTcpRelay` (src/lab/netns-relay.ts). The socket file is recorded, so
   * `destroyLab` removes it.
   */
  startServiceRelay(listen: { readonly address: string; readonly port: number }, unixPath: string, options: { readonly signal: AbortSignal }): Promise<RecordedProcess>;
  /**
   * Builds the namespace of an instance the API launched (recorded first, so `destroyLab` removes
   * it), exactly as `buildLab` builds the plan's: `eth0` with the ENI's MAC and address on its
   * subnet's bridge, the default route via the gateway.
   */
  addInstance(instance: LabInstance, options: { readonly signal: AbortSignal }): Promise<void>;
  /** Records a process started elsewhere in the lab (so `destroyLab` stops it); returns its record id. */
  recordProcess(process: { readonly label: string; readonly namespace: string; readonly argv: readonly string[]; readonly pid: number; readonly startTime: string | null }, options: { readonly signal: AbortSignal }): Promise<string>;
  /** Starts any long-running program in an instance, recorded in the state file (so `destroyLab` stops it). */
  spawn(node: string, argv: readonly string[], options: { readonly signal: AbortSignal; readonly label: string; readonly readyLine?: string; readonly logFile?: string }): Promise<RecordedProcess>;
}

export interface LabStatus {
  readonly namespaces: readonly { readonly name: string; readonly exists: boolean }[];
  readonly routeTables: readonly {
    readonly id: string;
    readonly tableNumber: number;
    readonly main: boolean;
    readonly subnetIds: readonly string[];
    /** The VIP's route in the kernel table; null when the table has none. */
    readonly vipRoute: { readonly nextHop: string; readonly networkInterfaceId: string | null; readonly instance: string | null } | null;
  }[];
  readonly processes: readonly { readonly label: string; readonly pid: number | null; readonly alive: boolean }[];
}

/**
 * Builds the lab. On failure, removes what it made and rethrows.
 * @throws UserError LAB_NOT_ROOT when not run as root; LAB_EXISTS when a lab with this prefix is up;
 *   SystemError LAB_COMMAND_FAILED when a kernel command fails.
 */
export async function buildLab(plan: LabPlan, options: BuildLabOptions): Promise<Lab> {
  const { signal } = options;
  if (process.getuid?.() !== 0) throw new UserError('LAB_NOT_ROOT', 'the lab creates network namespaces and needs root: run it with sudo (or as root in a container with CAP_NET_ADMIN and CAP_SYS_ADMIN)');
  const statePath = labStateFilePath({ prefix: plan.prefix, ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }) });
  if ((await readLabState(statePath, { signal })) !== null) {
    throw new UserError('LAB_EXISTS', `a lab with prefix ${plan.prefix} is already up (state file ${statePath}): run \`overlay-lb lab down\` first, or use another prefix`);
  }
  const existing = (await listNamespaces({ signal })).filter((n) => planNamespaces(plan).includes(n));
  if (existing.length > 0) {
    throw new UserError('LAB_EXISTS', `namespaces ${existing.join(', ')} already exist but no state file records them: remove them (ip netns del NAME) or use another prefix`);
  }
  const state = await LabStateFile.create(statePath, plan, { signal });
  const log = options.log;
  const run = (argv: readonly string[]): Promise<CommandResult> => runCommand(argv, { signal });
  const addNamespace = (name: string): Promise<void> => addLabNamespace(state, name, { signal });
  try {
    const router = plan.router.namespace;
    log?.info({ namespace: router }, 'creating router');
    await addNamespace(router);
    // No ICMP redirects: a VPC router never sends them. Linux does when it forwards a packet back
    // out of the bridge it came in on (a client's VIP traffic to a master in the client's own
    // subnet), and the client then sends to the master's address directly for the kernel's
    // route-exception lifetime (net.ipv4.route.gc_timeout, 300 s), so after a failover it keeps
    // sending to the dead master whatever the route table says. `default` before any bridge
    // exists (each link's own setting is OR'd with `all`).
    await sysctlIn(router, { 'net.ipv4.ip_forward': '1', ...ROUTER_NO_REDIRECTS }, { signal });
    for (const address of Object.values(plan.router.serviceAddresses)) await run(ipIn(router, ['addr', 'add', `${address}/32`, 'dev', 'lo']));
    for (const subnet of plan.subnets) {
      await run(ipIn(router, ['link', 'add', subnet.routerInterface, 'type', 'bridge']));
      await run(ipIn(router, ['addr', 'add', `${subnet.gateway}/24`, 'dev', subnet.routerInterface]));
      await run(ipIn(router, ['link', 'set', subnet.routerInterface, 'up']));
    }
    // Internet side.
    const internet = plan.internet;
    await addNamespace(internet.namespace);
    await run(ipIn(router, ['link', 'add', internet.routerInterface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', internet.namespace]));
    await run(ipIn(router, ['addr', 'add', `${internet.routerAddress}/24`, 'dev', internet.routerInterface]));
    await run(ipIn(router, ['link', 'set', internet.routerInterface, 'up']));
    await run(ipIn(internet.namespace, ['addr', 'add', `${internet.clientAddress}/24`, 'dev', 'eth0']));
    await run(ipIn(internet.namespace, ['link', 'set', 'eth0', 'up']));
    await run(ipIn(internet.namespace, ['route', 'add', 'default', 'via', internet.routerAddress, 'dev', 'eth0']));
    // Route tables: VPC-local routes, the internet, and a blackhole for everything else.
    for (const table of plan.routeTables) {
      const t = String(table.tableNumber);
      for (const subnet of plan.subnets) await run(ipIn(router, ['route', 'add', subnet.cidr, 'dev', subnet.routerInterface, 'table', t]));
      await run(ipIn(router, ['route', 'add', internet.cidr, 'dev', internet.routerInterface, 'table', t]));
      await run(ipIn(router, ['route', 'add', 'blackhole', 'default', 'table', t]));
    }
    for (const [i, subnet] of plan.subnets.entries()) {
      const table = plan.routeTables.find((t) => t.id === subnet.routeTableId);
      if (table === undefined) throw new SystemError('INTERNAL', `subnet ${subnet.id} names unknown route table ${subnet.routeTableId}`);
      await run(ipIn(router, ['rule', 'add', 'iif', subnet.routerInterface, 'lookup', String(table.tableNumber), 'priority', String(1000 + i)]));
    }
    // Firewall chains (router namespace only).
    for (const [chain, parent] of [
      [LAB_CHAINS.faultForward, 'FORWARD'], [LAB_CHAINS.sourceDestCheck, 'FORWARD'], [LAB_CHAINS.securityGroups, 'FORWARD'],
      [LAB_CHAINS.faultInput, 'INPUT'], [LAB_CHAINS.faultOutput, 'OUTPUT'],
    ] as const) {
      await run(iptablesIn(router, ['-N', chain]));
      await run(iptablesIn(router, ['-A', parent, '-j', chain]));
    }
    for (const [table, chain, parent] of [['nat', LAB_CHAINS.eipPrerouting, 'PREROUTING'], ['nat', LAB_CHAINS.eipPostrouting, 'POSTROUTING'], ['raw', LAB_CHAINS.eipZone, 'PREROUTING']] as const) {
      await run(iptablesIn(router, ['-t', table, '-N', chain]));
      await run(iptablesIn(router, ['-t', table, '-A', parent, '-j', chain]));
    }
    // Instances.
    for (const instance of plan.instances) {
      log?.info({ instance: instance.name, namespace: instance.namespace, address: instance.eni.privateIp }, 'creating instance');
      await buildInstance(plan, instance, addNamespace, run);
    }
    const lab = labHandle(plan, state);
    const datapath = lab.datapath;
    for (const instance of plan.instances) {
      if (instance.eni.sourceDestCheck) await datapath.setSourceDestCheck({ networkInterfaceId: instance.eni.id, enabled: true }, { signal });
    }
    for (const instance of plan.instances) {
      if (instance.listeners.length > 0) {
        log?.info({ instance: instance.name, listeners: instance.listeners.length }, 'starting backend server');
        await lab.startNameServer(instance.name, instance.listeners, { signal });
      }
    }
    log?.info({ stateFile: statePath }, 'lab is up');
    return lab;
  } catch (error) {
    await destroyLab(statePath, { signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
    throw error;
  }
}

/**
 * The router namespace's sysctls that keep it from sending ICMP redirects, as a VPC router never
 * does (see buildLab): exported so a test can check the router of a built lab.
 */
export const ROUTER_NO_REDIRECTS: Readonly<Record<string, string>> = {
  'net.ipv4.conf.all.send_redirects': '0',
  'net.ipv4.conf.default.send_redirects': '0',
};

/** Records and creates one lab namespace: rp_filter off (see above), `lo` up. */
async function addLabNamespace(state: LabStateFile, name: string, options: { readonly signal: AbortSignal }): Promise<void> {
  await state.record({ kind: 'netns', name }, options);
  await runCommand(['ip', 'netns', 'add', name], options);
  // Before any link exists, so that every link inherits `default`.
  await sysctlIn(name, { 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.default.rp_filter': '0' }, options);
  await runCommand(ipIn(name, ['link', 'set', 'lo', 'up']), options);
}

/**
 * The namespace of an instance launched through the lab's API (RunInstances): `<prefix><instance id>`.
 * Deterministic, so `lab exec i-...` and a restarted controller find it.
 */
export function apiInstanceNamespace(plan: LabPlan, instanceId: string): string {
  return `${plan.prefix}${instanceId}`;
}

async function buildInstance(
  plan: LabPlan,
  instance: LabInstance,
  addNamespace: (name: string) => Promise<void>,
  run: (argv: readonly string[]) => Promise<CommandResult>,
): Promise<void> {
  const router = plan.router.namespace;
  const subnet = plan.subnets.find((s) => s.id === instance.eni.subnetId);
  if (subnet === undefined) throw new SystemError('INTERNAL', `instance ${instance.name} names unknown subnet ${instance.eni.subnetId}`);
  const ns = instance.namespace;
  await addNamespace(ns);
  await run(ipIn(router, ['link', 'add', instance.routerPort, 'type', 'veth', 'peer', 'name', 'eth0', 'address', instance.eni.mac, 'netns', ns]));
  await run(ipIn(router, ['link', 'set', instance.routerPort, 'master', subnet.routerInterface]));
  await run(ipIn(router, ['link', 'set', instance.routerPort, 'up']));
  await run(ipIn(ns, ['addr', 'add', `${instance.eni.privateIp}/24`, 'dev', 'eth0']));
  await run(ipIn(ns, ['link', 'set', 'eth0', 'up']));
  await run(ipIn(ns, ['route', 'add', 'default', 'via', subnet.gateway, 'dev', 'eth0']));
  if (instance.vipOnLoopback) await run(ipIn(ns, ['addr', 'add', `${plan.vip}/32`, 'dev', 'lo']));
}

/** Re-opens a lab that is up, from its state file. @throws UserError LAB_NOT_FOUND when there is none. */
export async function openLab(options: { readonly signal: AbortSignal; readonly prefix?: string; readonly stateDir?: string; readonly stateFile?: string }): Promise<Lab> {
  const path = options.stateFile ?? labStateFilePath({ prefix: options.prefix ?? 'olb-', ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }) });
  const state = await LabStateFile.open(path, options);
  if (state === null) throw new UserError('LAB_NOT_FOUND', `no lab is up: state file ${path} does not exist; run \`overlay-lb lab up\` first`);
  return labHandle(state.state.plan, state);
}

function labHandle(plan: LabPlan, state: LabStateFile): Lab {
  const namespaceOf = (node: string): string => {
    if (node === 'router') return plan.router.namespace;
    if (node === 'internet') return plan.internet.namespace;
    // Instances launched through the API (RunInstances) are known by their id.
    if (/^i-[0-9a-f]{17}$/.test(node) && findInstance(plan, node) === undefined) return apiInstanceNamespace(plan, node);
    return requireInstance(plan, node).namespace;
  };
  const spawn = (node: string, argv: readonly string[], options: { signal: AbortSignal; label: string; readyLine?: string; logFile?: string }): Promise<RecordedProcess> =>
    spawnInNamespace({ ...options, stateFile: state, namespace: namespaceOf(node), argv });
  return {
    plan,
    stateFilePath: state.path,
    datapath: createKernelDataPath(plan),
    exec: (node, argv, options) => runCommand(execIn(namespaceOf(node), argv), options),
    spawn,
    addInstance: (instance, options) => buildInstance(plan, instance, (name) => addLabNamespace(state, name, options), (argv) => runCommand(argv, options)),
    recordProcess: (p, options) => state.record({ kind: 'process', ...p, argv: [...p.argv] }, options),
    startNameServer: (node, listeners, options) =>
      spawn(node, ownProgramArgv('backend-server', formatNameServerArgs(listeners)), {
        signal: options.signal,
        label: `name-server ${node}`,
        readyLine: NAME_SERVER_READY_LINE,
      }),
    startServiceRelay: async (listen, unixPath, options) => {
      await state.record({ kind: 'file', path: unixPath }, options);
      return spawn('router', ownProgramArgv('netns-relay', [`${listen.address}:${listen.port}`, unixPath]), {
        signal: options.signal,
        label: `relay ${listen.address}:${listen.port}`,
        readyLine: RELAY_READY_LINE,
      });
    },
    status: async ({ signal }) => {
      const present = new Set(await listNamespaces({ signal }));
      const routerUp = present.has(plan.router.namespace);
      const routeTables = [];
      for (const table of plan.routeTables) {
        let vipRoute: LabStatus['routeTables'][number]['vipRoute'] = null;
        if (routerUp) {
          const { stdout } = await runCommand(ipIn(plan.router.namespace, ['-j', 'route', 'show', 'table', String(table.tableNumber), `${plan.vip}/32`]), { signal, allowFailure: true });
          const routes = JSON.parse(stdout.trim() === '' ? '[]' : stdout) as { dst?: string; gateway?: string }[];
          const route = routes.find((r) => r.dst === plan.vip || r.dst === `${plan.vip}/32`);
          if (route?.gateway !== undefined) {
            const target = plan.instances.find((i) => i.eni.privateIp === route.gateway);
            vipRoute = { nextHop: route.gateway, networkInterfaceId: target?.eni.id ?? null, instance: target?.name ?? null };
          }
        }
        routeTables.push({ id: table.id, tableNumber: table.tableNumber, main: table.main, subnetIds: table.subnetIds, vipRoute });
      }
      const processes = [];
      for (const r of state.state.resources) {
        if (r.kind !== 'process') continue;
        const alive = r.pid !== null && (await namespacePids(r.namespace, { signal })).includes(r.pid);
        processes.push({ label: r.label, pid: r.pid, alive });
      }
      return { namespaces: planNamespaces(plan).map((name) => ({ name, exists: present.has(name) })), routeTables, processes };
    },
  };
}

export interface DestroyReport {
  readonly processesStopped: number;
  readonly namespacesRemoved: number;
  readonly filesRemoved: number;
}

/**
 * Removes exactly what a state file records (processes, then namespaces with anything still
 * running in them, then files), then the state file. Idempotent: a missing state file or an
 * already-gone resource is no error, so it also cleans up after a crash.
 * @throws UserError LAB_STATE_INVALID when the state file is not a lab state file.
 */
export async function destroyLab(stateFilePath: string, options: { readonly signal: AbortSignal }): Promise<DestroyReport> {
  const { signal } = options;
  const state = await readLabState(stateFilePath, { signal });
  const report = { processesStopped: 0, namespacesRemoved: 0, filesRemoved: 0 };
  if (state === null) {
    await rm(`${stateFilePath}.tmp`, { force: true });
    return report;
  }
  const resources = [...state.resources].reverse();
  for (const r of resources) {
    if (r.kind === 'process' && r.pid !== null && (await killRecordedProcess({ pid: r.pid, startTime: r.startTime }, { signal })) === 'killed') report.processesStopped += 1;
  }
  const present = new Set(await listNamespaces({ signal }));
  for (const r of resources) {
    if (r.kind !== 'netns' || !present.has(r.name)) continue;
    // Whatever still runs in a lab namespace was started in the lab (a namespace outlives
    // `ip netns del` while a process holds it).
    report.processesStopped += (await stopNamespaceProcesses(r.name, { signal })).stopped;
    const result = await runCommand(['ip', 'netns', 'del', r.name], { signal, allowFailure: true });
    if (result.code === 0) report.namespacesRemoved += 1;
    else if ((await listNamespaces({ signal })).includes(r.name)) {
      throw new SystemError('LAB_COMMAND_FAILED', `cannot remove lab namespace ${r.name}: ${result.stderr.trim()}; run \`ip netns pids ${r.name}\` to see what holds it`);
    }
  }
  for (const r of resources) {
    if (r.kind === 'file') {
      await rm(r.path, { force: true });
      report.filesRemoved += 1;
    } else if (r.kind === 'dir') {
      await rmdir(r.path).catch(() => undefined);
    }
  }
  await rm(stateFilePath, { force: true });
  await rm(`${stateFilePath}.tmp`, { force: true });
  return report;
}
