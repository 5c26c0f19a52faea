/**
 * The lab controller: the cloud half of a running lab. It holds the lab's EC2 model (`LabCloud`,
 * seeded from the plan with identical ids), serves the EC2-compatible API and IMDS, mirrors every
 * cloud change into the kernel (`datapath.applyEvent`) and owns the lab's faults.
 *
 * It runs on the host (in the test process for `startLab`, or as the detached `overlay-lb lab
 * serve` process for the CLI) and listens on:
 * - 127.0.0.1:PORT: the EC2 API for the host (`aws ec2 ... --endpoint-url http://127.0.0.1:PORT`);
 * - unix sockets in the lab directory for the instances: relays in the router namespace accept on
 *   169.254.169.254:80 (IMDS) and 169.254.169.250:80 (EC2 API) and forward each connection with a
 *   PROXY protocol v1 header carrying the instance's address (src/lab/netns-relay.ts), so IMDS
 *   identifies the caller and per-AZ API faults see where a call comes from;
 * - a control socket (HTTP over a unix socket, root-only file, never on the network) through which
 *   `overlay-lb lab fault` and `lab status` reach a controller in another process.
 * The cloud is written to the lab directory after every change (`snapshot()`), so `lab status`
 * from another process and a restarted controller see the same world.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { lbNodePolicy } from '../cloud/aws/iam-policy.js';
import type { LabPlan } from './plan.js';
import { openLab, type Lab } from './topology.js';
import { LabStateFile } from './state-file.js';
import { LabCloud, isWellFormedId, type World } from './ec2/state.js';
import { resolveEniFirewalls, type EniFirewall } from './ec2/security-groups.js';
import { startEc2Api, type Ec2Api } from './ec2/server.js';
import { ALLOW_ALL_POLICY, type LabCredential } from './ec2/policy.js';
import type { ApiFaultStatus } from './ec2/faults.js';
import { startImds, type Imds } from './imds/server.js';
import { createImdsHopLimits, imdsHopLimitsOf } from './imds/hop-limit.js';
import { startInstanceHost, type InstanceHost } from './instance-host.js';
import { acceptProxyConnection, RELAY_READY_LINE } from './netns-relay.js';
import { clearAllInfraFaults, clearInfraFault, injectInfraFault, type InfraFault } from './infra-faults.js';
import { killRecordedProcess, readProcessStartTime } from './netns.js';
import { parseCidr as parsePlanCidr, parseIpv4 as parsePlanIpv4 } from './plan.js';
import { SystemError, UserError } from '../util/errors.js';
import { ownProgramArgv } from '../util/own-program.js';

/** The IAM role of the LB nodes (instance profile) in the lab. */
export const LB_NODE_ROLE = 'overlay-lb-node';

/**
 * The security group `lab up` gives every instance it builds from the spec (LB nodes, backends,
 * clients): all traffic in and out, so the lab's own nodes work as before security groups were
 * enforced. Tests and provisioners narrow an ENI's groups with ModifyNetworkInterfaceAttribute
 * (or launch instances with their own groups).
 */
export const LAB_OPEN_GROUP = 'overlay-lb-lab-open';

/** A logger with the shape of src/util/log.ts. */
export interface ControllerLogger {
  info(fields: Readonly<Record<string, unknown>>, message: string): void;
  error(fields: Readonly<Record<string, unknown>>, message: string): void;
}

/** Every fault the lab can inject and clear (`kill` is a crash, not a fault: nothing to clear). */
export type LabFault =
  | { readonly kind: 'api-latency'; readonly action: string; readonly ms: number }
  | { readonly kind: 'api-throttle' }
  | { readonly kind: 'api-errors'; readonly rate: number }
  | { readonly kind: 'api-consistency'; readonly ms: number }
  | { readonly kind: 'api-unreachable'; readonly az: string; readonly mode?: 'drop' | 'hang' }
  /** The API's clock (its answers' Date header) `ms` ahead of every node's: a node clock lagging by `ms`. */
  | { readonly kind: 'api-clock-skew'; readonly ms: number }
  /** S3 slow: every S3 answer `ms` later. */
  | { readonly kind: 's3-latency'; readonly ms: number }
  /** S3 unreachable from everywhere (instances and host); EC2 and IAM on the same endpoint still answer. */
  | { readonly kind: 's3-unreachable'; readonly mode?: 'drop' | 'hang' }
  /** IAM's eventual consistency: instance profiles younger than `ms` are unknown to RunInstances. */
  | { readonly kind: 'iam-propagation'; readonly ms: number }
  | InfraFault;

/** The files of a lab besides its state file, all in one directory next to it. */
export interface LabFiles {
  readonly dir: string;
  /** The cloud's snapshot() JSON. */
  readonly cloud: string;
  /** `ControllerInfo` JSON (mode 0600: it holds the admin secret). */
  readonly info: string;
  /** The active faults (JSON array of LabFault). */
  readonly faults: string;
  readonly apiSocket: string;
  readonly imdsSocket: string;
  readonly controlSocket: string;
  readonly log: string;
}

/** The lab directory and files of the lab whose state file is `stateFilePath`. */
export function labFiles(stateFilePath: string, prefix: string): LabFiles {
  const dir = join(dirname(stateFilePath), `${prefix}lab`);
  return {
    dir,
    cloud: join(dir, 'cloud.json'),
    info: join(dir, 'controller.json'),
    faults: join(dir, 'faults.json'),
    apiSocket: join(dir, 'api.sock'),
    imdsSocket: join(dir, 'imds.sock'),
    controlSocket: join(dir, 'control.sock'),
    log: join(dir, 'controller.log'),
  };
}

/** What a running controller publishes in `LabFiles.info`. */
export interface ControllerInfo {
  readonly pid: number;
  /** The host's EC2 API endpoint, `http://127.0.0.1:PORT/`. */
  readonly apiUrl: string;
  readonly region: string;
  readonly admin: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

export interface StartLabControllerOptions {
  /** The state file of a built lab. */
  readonly stateFile: string;
  /** Record this process in the state file as `controller` (the detached `lab serve`), so `lab down` stops it. @default false */
  readonly recordSelf?: boolean;
  readonly signal: AbortSignal;
  readonly log?: ControllerLogger;
  /** Failover mode of the spec: `eip` allocates an Elastic IP when seeding. @default "route" */
  readonly failover?: 'route' | 'eip';
  /** The spec's `cloud.eipAllocationId`, used as the Elastic IP's id when well-formed. */
  readonly eipAllocationId?: string;
}

export interface LabController {
  /**
   * The lab, re-opened after the controller's records: use this handle (not an older one) to
   * spawn more processes, or the older handle's cached state would overwrite those records.
   */
  readonly lab: Lab;
  readonly cloud: LabCloud;
  readonly api: Ec2Api;
  readonly imds: Imds;
  /** Boots, stops and terminates the instances launched through the API. */
  readonly instances: InstanceHost;
  readonly info: ControllerInfo;
  readonly admin: LabCredential;
  readonly files: LabFiles;
  /** Injects a fault (idempotent) and records it. @throws UserError LAB_FAULT_INVALID, LAB_UNKNOWN_NAME */
  inject(fault: LabFault): Promise<void>;
  /** Clears one fault (idempotent). */
  clear(fault: LabFault): Promise<void>;
  /** Clears every fault, API and infrastructure. */
  clearAll(): Promise<void>;
  activeFaults(): readonly LabFault[];
  /** Resolves once every cloud change so far is in the kernel. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the controller of a built lab: seeds the cloud (or restores it from the lab directory),
 * starts the servers and the relays, and the control endpoint.
 * @throws SystemError LAB_LISTEN when a server cannot listen; LAB_COMMAND_FAILED when a relay does not start.
 */
export async function startLabController(options: StartLabControllerOptions): Promise<LabController> {
  const { signal, log } = options;
  // Records go through one state-file writer, then the lab is re-opened from the file (see `lab`).
  const stateFile = await LabStateFile.open(options.stateFile, { signal });
  if (stateFile === null) throw new UserError('LAB_NOT_FOUND', `no lab is up: state file ${options.stateFile} does not exist; run \`overlay-lb lab up\` first`);
  const files = labFiles(options.stateFile, stateFile.state.plan.prefix);
  const recordOnce = async (resource: { kind: 'dir'; path: string } | { kind: 'file'; path: string }): Promise<void> => {
    if (!stateFile.state.resources.some((r) => r.kind === resource.kind && r.path === resource.path)) await stateFile.record(resource, { signal });
  };
  if (options.recordSelf === true) {
    await stateFile.record({
      kind: 'process', label: 'controller', namespace: 'host', argv: process.argv,
      pid: process.pid, startTime: await readProcessStartTime(process.pid, { signal }),
    }, { signal });
  }
  await recordOnce({ kind: 'dir', path: files.dir });
  await mkdir(files.dir, { recursive: true, mode: 0o700 });
  for (const path of [files.cloud, files.info, files.faults, files.apiSocket, files.imdsSocket, files.controlSocket, files.log]) await recordOnce({ kind: 'file', path });
  const lab = await openLab({ signal, stateFile: options.stateFile });
  const plan = lab.plan;

  const closing = new AbortController();
  const inner = AbortSignal.any([signal, closing.signal]);
  const datapath = lab.datapath;
  let pending: Promise<void> = Promise.resolve();
  const cloud = new LabCloud({ region: plan.region, publicIpBase: eipBase(plan) });
  const firewalls = (): readonly EniFirewall[] => resolveEniFirewalls(cloud.view());
  cloud.on((event) => {
    const at = performance.now();
    const change = event.type === 'security-groups-changed'
      ? datapath.setSecurityGroups(firewalls, { signal: inner })
      : datapath.applyEvent(event, { signal: inner });
    const applied = change.then(() => {
      // How far the kernel lags the API (a busy machine stretches it): in the log, for tests.
      if (event.type === 'route-changed' || event.type === 'address-associated') log?.info({ event, lagMs: Math.round(performance.now() - at) }, 'lab data path changed');
    }, (error: unknown) => {
      log?.error({ event, error: (error as Error).message }, 'lab data path change failed');
    });
    pending = Promise.all([pending, applied]).then(() => undefined);
    // The instance host completes transitions outside any API request: keep the file current for
    // `lab status` and a restarted controller.
    if (event.type === 'instance-state') void persist().catch(() => undefined);
  });

  let persistQueue: Promise<void> = Promise.resolve();
  const persist = (): Promise<void> => {
    const next = persistQueue.then(() => writeAtomic(files.cloud, cloud.snapshot()));
    persistQueue = next.catch((error: unknown) => log?.error({ error: (error as Error).message }, 'lab cloud snapshot failed'));
    return next;
  };

  let admin: LabCredential;
  const previous = await readJson<ControllerInfo>(files.info);
  const snapshot = await readFile(files.cloud, 'utf8').catch(() => null);
  if (snapshot !== null && previous !== null) {
    cloud.restore(snapshot);
    admin = { ...previous.admin, principal: 'admin', policy: ALLOW_ALL_POLICY };
    log?.info({ file: files.cloud }, 'lab cloud restored');
  } else {
    admin = {
      accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64'),
      principal: 'admin', policy: ALLOW_ALL_POLICY,
    };
    seedLabCloud(cloud, plan, options);
    log?.info({ vpc: plan.vpc.id }, 'lab cloud seeded');
  }
  await persist();

  const api = await startEc2Api({
    cloud, host: '127.0.0.1', port: previous === null ? 0 : Number(new URL(previous.apiUrl).port), signal: inner, credentials: [admin],
    onRequest: (entry) => {
      log?.info({ ...entry }, 'lab api request');
      if (entry.status === 200 && entry.action !== undefined && !entry.action.startsWith('Describe')) void persist();
    },
  });
  const imds = await startImds({
    host: '127.0.0.1', port: 0, signal: inner, requireV2: true,
    resolveInstance: (address) => {
      const instanceId = cloud.instanceIdByPrivateIp(address);
      return instanceId === undefined ? undefined : cloud.instanceIdentity(instanceId);
    },
  });
  const instances = startInstanceHost({ cloud, lab, dir: files.dir, signal: inner, ...(log === undefined ? {} : { log }) });
  // The IMDS hop limit of each API-launched instance is the TTL of its token answers (src/lab/imds/hop-limit.ts).
  const hopLimits = createImdsHopLimits({ routerNamespace: plan.router.namespace, imdsAddress: plan.router.serviceAddresses.imds });
  const syncHopLimits = (): void => {
    const change = hopLimits.sync(() => imdsHopLimitsOf(cloud.view()), { signal: inner }).catch((error: unknown) => {
      log?.error({ error: (error as Error).message }, 'lab imds hop limits failed');
    });
    pending = Promise.all([pending, change]).then(() => undefined);
  };
  cloud.on((event) => {
    if (event.type === 'instance-state' || event.type === 'metadata-options-changed') syncHopLimits();
  });
  syncHopLimits();
  // The kernel's security-group rules from the world as it is now (a restarted controller's
  // restored world, or a seeded one whose events may have been collapsed), once the instance host
  // has told the data path the realms of the API instances it adopted.
  pending = Promise.all([pending, datapath.setSecurityGroups(firewalls, { signal: inner }).catch((error: unknown) => {
    log?.error({ error: (error as Error).message }, 'lab security groups failed');
  })]).then(() => undefined);
  const servers: Server[] = [];
  const listenUnix = async (path: string, server: Server): Promise<void> => {
    await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause) => reject(new SystemError('LAB_LISTEN', `the lab controller cannot listen on ${path}: ${cause.message}; is another controller running? run \`overlay-lb lab down\``, { cause })));
      server.listen({ path }, resolve);
    });
    await chmod(path, 0o600);
    servers.push(server);
  };
  await listenUnix(files.apiSocket, createNetServer((socket) => acceptProxyConnection(socket, (stream) => api.acceptConnection(stream))));
  await listenUnix(files.imdsSocket, createNetServer((socket) => acceptProxyConnection(socket, (stream) => imds.acceptConnection(stream))));

  // Faults.
  const active = new Map<string, LabFault>();
  const unreachableAzs = new Map<string, 'drop' | 'hang'>();
  const saveFaults = (): Promise<void> => writeAtomic(files.faults, JSON.stringify([...active.values()]));
  const applyUnreachable = (): void => {
    if (unreachableAzs.size === 0) {
      api.faults.setUnreachable(null);
      return;
    }
    const ranges = plan.subnets.filter((s) => unreachableAzs.has(s.az)).map((s) => ({ az: s.az, ...parsePlanCidr(s.cidr) }));
    const mode = [...unreachableAzs.values()].includes('hang') ? 'hang' : 'drop';
    api.faults.setUnreachable((address) => {
      let n: number;
      try {
        n = parsePlanIpv4(address);
      } catch {
        return false;
      }
      return ranges.some((r) => r.length === 0 || ((n ^ r.base) >>> (32 - r.length)) === 0);
    }, mode);
  };
  const setFault = async (fault: LabFault, on: boolean): Promise<void> => {
    validateFault(plan, fault);
    switch (fault.kind) {
      case 'api-latency': api.faults.setLatency(fault.action, on ? fault.ms : 0); break;
      case 'api-throttle': api.faults.setThrottling({ enabled: on }); break;
      case 'api-errors': api.faults.setErrorRate({ rate: on ? fault.rate : 0 }); break;
      case 'api-consistency': api.faults.setConsistencyDelay(on ? fault.ms : 0); break;
      case 'api-clock-skew': api.faults.setClockSkew(on ? fault.ms : 0); break;
      case 'iam-propagation': cloud.iamPropagationDelayMs = on ? fault.ms : 0; break;
      case 'api-unreachable':
        if (on) unreachableAzs.set(fault.az, fault.mode ?? 'drop');
        else unreachableAzs.delete(fault.az);
        applyUnreachable();
        break;
      case 's3-latency': api.faults.setS3Latency(on ? fault.ms : 0); break;
      case 's3-unreachable': api.faults.setS3Unreachable(on ? fault.mode ?? 'drop' : null); break;
      default:
        if (on) await injectInfraFault(plan, fault, { signal: inner });
        else await clearInfraFault(plan, fault, { signal: inner });
    }
    if (on) active.set(faultKey(fault), fault);
    else active.delete(faultKey(fault));
    await saveFaults();
  };
  // A restarted controller re-applies what its predecessor had on.
  for (const fault of (await readJson<LabFault[]>(files.faults)) ?? []) await setFault(fault, true).catch(() => undefined);
  await saveFaults();

  const clearAll = async (): Promise<void> => {
    api.faults.clear();
    cloud.iamPropagationDelayMs = 0;
    unreachableAzs.clear();
    await clearAllInfraFaults(plan, { signal: inner });
    active.clear();
    await saveFaults();
  };

  // Relays: a predecessor's relays (same labels) are stopped first so the new ones can bind.
  const state = JSON.parse(await readFile(lab.stateFilePath, 'utf8')) as { resources: { kind: string; label?: string; pid?: number | null; startTime?: string | null }[] };
  for (const r of state.resources) {
    if (r.kind === 'process' && (r.label === 'relay imds' || r.label === 'relay api') && typeof r.pid === 'number') {
      await killRecordedProcess({ pid: r.pid, startTime: r.startTime ?? null }, { signal });
    }
  }
  const { imds: imdsAddress, api: apiAddress } = plan.router.serviceAddresses;
  await lab.spawn('router', ownProgramArgv('netns-relay', ['--proxy-protocol', `${imdsAddress}:80`, files.imdsSocket]), { signal, label: 'relay imds', readyLine: RELAY_READY_LINE });
  await lab.spawn('router', ownProgramArgv('netns-relay', ['--proxy-protocol', `${apiAddress}:80`, files.apiSocket]), { signal, label: 'relay api', readyLine: RELAY_READY_LINE });

  const info: ControllerInfo = { pid: process.pid, apiUrl: api.url, region: plan.region, admin: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey } };
  await writeAtomic(files.info, JSON.stringify(info, null, 2));

  const settled = async (): Promise<void> => {
    for (let i = 0; i < 100; i += 1) {
      const seen = pending;
      await seen;
      if (seen === pending) return;
    }
  };

  const control = createHttpServer((req, res) => {
    handleControl(req, res).catch((error: unknown) => sendJson(res, 500, { error: { code: 'INTERNAL', message: (error as Error).message } }));
  });
  const handleControl = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method === 'GET' && req.url === '/status') {
      sendJson(res, 200, { pid: process.pid, apiUrl: api.url, faults: [...active.values()], api: api.faults.status() satisfies ApiFaultStatus });
      return;
    }
    if (req.method !== 'POST' || req.url !== '/faults') {
      sendJson(res, 404, { error: { code: 'CLI_USAGE', message: `no control route ${req.method ?? ''} ${req.url ?? ''}` } });
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { op: 'inject' | 'clear' | 'clear-all'; fault?: LabFault };
      if (body.op === 'clear-all') await clearAll();
      else if (body.fault === undefined) throw new UserError('LAB_FAULT_INVALID', `control request ${body.op} names no fault`);
      else await setFault(body.fault, body.op === 'inject');
      await settled();
      sendJson(res, 200, { faults: [...active.values()] });
    } catch (error) {
      const code = error instanceof UserError || error instanceof SystemError ? error.code : 'LAB_FAULT_INVALID';
      sendJson(res, 400, { error: { code, message: (error as Error).message } });
    }
  };
  await listenUnix(files.controlSocket, control);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing.abort();
      for (const server of servers) server.close();
      await instances.close();
      await Promise.allSettled([api.close(), imds.close()]);
      await pending;
      await persistQueue;
    })();
    return closed;
  };
  signal.addEventListener('abort', () => void close(), { once: true });
  log?.info({ apiUrl: api.url }, 'lab controller ready');

  return {
    lab, cloud, api, imds, instances, info, admin, files, settled, close, clearAll,
    inject: (fault) => setFault(fault, true).then(settled),
    clear: (fault) => setFault(fault, false).then(settled),
    activeFaults: () => [...active.values()],
  };
}

/** The first address handed out from the plan's Elastic IP pool (`.10` of it). */
function eipBase(plan: LabPlan): string {
  const { base } = parsePlanCidr(plan.internet.elasticIpPool);
  const n = base + 10;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

/** The LB nodes' least-privilege policy is the product's (src/cloud/aws/iam-policy.ts); the lab enforces it. */
export { lbNodePolicy };

/**
 * Seeds the cloud from the plan with the plan's ids: VPC, subnets, route tables and associations,
 * instances with their ENIs (MACs, addresses), the LB role and its policy, source/dest check off
 * on the LB nodes, the VIP route in every table to the first LB node, and an Elastic IP in `eip`
 * mode. Every change reaches the kernel through the cloud's events.
 */
export function seedLabCloud(cloud: LabCloud, plan: LabPlan, options: { readonly failover?: 'route' | 'eip'; readonly eipAllocationId?: string }): void {
  // LabCloud accepts only AZ names of its region (as EC2 does); specs may name zones freely
  // (`az-a`), so seed with region names and rename them below.
  const cloudAz = (az: string): string => (az.startsWith(plan.region) ? az : `${plan.region}${'abcdefgh'[plan.azs.indexOf(az)] ?? 'a'}`);
  const main = plan.routeTables.find((t) => t.main);
  if (main === undefined) throw new SystemError('INTERNAL', 'the lab plan has no main route table');
  const tags = (name: string): Record<string, string> => ({ Name: name, 'overlay-lb:lab': plan.prefix });
  const { vpcId } = cloud.createVpc({ cidr: plan.vpc.cidr, vpcId: plan.vpc.id, mainRouteTableId: main.id, tags: tags(plan.clusterName) });
  for (const subnet of plan.subnets) {
    cloud.createSubnet({ vpcId, cidr: subnet.cidr, availabilityZone: cloudAz(subnet.az), subnetId: subnet.id, tags: tags(subnet.name) });
  }
  for (const table of plan.routeTables) {
    if (table.main) continue;
    cloud.createRouteTable({ vpcId, routeTableId: table.id, tags: tags(`rt-${plan.subnets.find((s) => s.id === table.subnetIds[0])?.name ?? table.id}`) });
    for (const subnetId of table.subnetIds) cloud.associateRouteTable({ routeTableId: table.id, subnetId });
  }
  let eipAllocationId: string | null = null;
  let eipAllocated: string | null = null;
  if (options.failover === 'eip' && plan.bare !== true) {
    eipAllocated = cloud.allocateAddress({ tags: tags('vip') }).allocationId;
    eipAllocationId = options.eipAllocationId !== undefined && isWellFormedId('eipalloc', options.eipAllocationId) ? options.eipAllocationId : eipAllocated;
  }
  // A bare account starts without the LB role: the provisioner under test creates it through IAM.
  if (plan.bare !== true) cloud.putRolePolicy(LB_NODE_ROLE, lbNodePolicy({ arn: (type, id) => cloud.arn(type, id), vpcId: plan.vpc.id, eipAllocationId }));
  if (plan.bare === true) {
    // An internet gateway and the default route to it in every table, as a public VPC has (the
    // kernel tables reach the internet side by construction; see topology.ts).
    const { internetGatewayId } = cloud.createInternetGateway({ vpcId, tags: tags(`${plan.clusterName}-igw`) });
    for (const table of plan.routeTables) cloud.createRoute({ routeTableId: table.id, destinationCidrBlock: '0.0.0.0/0', target: { gatewayId: internetGatewayId } });
  }
  const { groupId: openGroupId } = cloud.createSecurityGroup({
    vpcId, groupName: LAB_OPEN_GROUP, description: 'lab-made: all traffic of the instances lab up builds from the spec', tags: tags(LAB_OPEN_GROUP),
  });
  cloud.authorizeSecurityGroupRules({ groupId: openGroupId, direction: 'ingress', rules: [{ protocol: '-1', cidr: '0.0.0.0/0' }] });
  for (const instance of plan.instances) {
    cloud.createInstance({
      groupIds: [openGroupId],
      subnetId: instance.eni.subnetId, privateIp: instance.eni.privateIp, mac: instance.eni.mac,
      instanceId: instance.instanceId, networkInterfaceId: instance.eni.id, tags: { ...tags(instance.name), 'overlay-lb:role': instance.role },
      ...(instance.role === 'lb-node' ? { roleName: LB_NODE_ROLE } : {}),
    });
    // The VIP is not the LB node's own address: AWS drops such traffic unless the check is off.
    if (instance.role === 'lb-node') cloud.setSourceDestCheck({ networkInterfaceId: instance.eni.id, enabled: false });
  }
  const first = plan.instances.find((i) => i.role === 'lb-node');
  if (first !== undefined) {
    for (const table of plan.routeTables) {
      cloud.createRoute({ routeTableId: table.id, destinationCidrBlock: `${plan.vip}/32`, target: { networkInterfaceId: first.eni.id } });
    }
  }
  // Rename what the model's create methods cannot take: AZ names, the Elastic IP's id.
  const snapshot = JSON.parse(cloud.snapshot()) as { world: World };
  for (const subnet of plan.subnets) {
    const data = snapshot.world.subnets[subnet.id];
    if (data !== undefined) snapshot.world.subnets[subnet.id] = { ...data, availabilityZone: subnet.az };
  }
  if (eipAllocated !== null && eipAllocationId !== null && eipAllocated !== eipAllocationId) {
    const address = snapshot.world.addresses[eipAllocated];
    if (address !== undefined) {
      delete snapshot.world.addresses[eipAllocated];
      snapshot.world.addresses[eipAllocationId] = { ...address, allocationId: eipAllocationId };
    }
  }
  cloud.restore(JSON.stringify(snapshot));
}

function faultKey(fault: LabFault): string {
  switch (fault.kind) {
    case 'api-latency': return `api-latency:${fault.action}`;
    case 'api-unreachable': return `api-unreachable:${fault.az}`;
    case 'node-down': return `node-down:${fault.node}`;
    case 'az-blackhole': return `az-blackhole:${fault.az}`;
    case 'partition': return `partition:${JSON.stringify(fault.sides ?? 'all')}`;
    default: return fault.kind;
  }
}

/** Checks a fault's arguments against the plan. @throws UserError LAB_FAULT_INVALID, LAB_UNKNOWN_NAME */
export function validateFault(plan: LabPlan, fault: LabFault): void {
  const bad = (message: string): never => {
    throw new UserError('LAB_FAULT_INVALID', message);
  };
  const az = (name: string): void => {
    if (!plan.azs.includes(name)) throw new UserError('LAB_UNKNOWN_NAME', `AZ ${JSON.stringify(name)} is not in the lab: known are ${plan.azs.join(', ')}`);
  };
  switch (fault.kind) {
    case 'api-latency':
      if (!/^(\*|[A-Z][A-Za-z]+)$/.test(fault.action)) bad(`api-latency action ${JSON.stringify(fault.action)} is not an EC2 action name: use one like ReplaceRoute, or * for every action`);
      if (!(Number.isFinite(fault.ms) && fault.ms >= 0 && fault.ms <= 600_000)) bad(`api-latency ms ${fault.ms} is out of range: allowed is 0 to 600000`);
      return;
    case 'api-errors':
      if (!(fault.rate >= 0 && fault.rate <= 1)) bad(`api-errors rate ${fault.rate} is out of range: allowed is 0 to 1 (for example 0.2)`);
      return;
    case 'api-consistency':
    case 'api-clock-skew':
    case 'iam-propagation':
      if (!(Number.isFinite(fault.ms) && fault.ms >= 0 && fault.ms <= 600_000)) bad(`${fault.kind} ms ${fault.ms} is out of range: allowed is 0 to 600000`);
      return;
    case 'api-unreachable':
      az(fault.az);
      if (fault.mode !== undefined && fault.mode !== 'drop' && fault.mode !== 'hang') bad(`api-unreachable mode ${JSON.stringify(fault.mode)}: allowed are drop, hang`);
      return;
    case 's3-latency':
      if (!(Number.isFinite(fault.ms) && fault.ms >= 0 && fault.ms <= 600_000)) bad(`s3-latency ms ${fault.ms} is out of range: allowed is 0 to 600000`);
      return;
    case 's3-unreachable':
      if (fault.mode !== undefined && fault.mode !== 'drop' && fault.mode !== 'hang') bad(`s3-unreachable mode ${JSON.stringify(fault.mode)}: allowed are drop, hang`);
      return;
    case 'az-blackhole':
      az(fault.az);
      return;
    case 'partition':
      for (const side of fault.sides ?? []) for (const name of side) az(name);
      return;
    case 'api-throttle':
    case 'node-down':
      return;
    default:
      bad(`unknown fault kind ${JSON.stringify((fault as { kind: unknown }).kind)}: allowed are api-latency, api-throttle, api-errors, api-consistency, api-clock-skew, api-unreachable, iam-propagation, s3-latency, s3-unreachable, node-down, az-blackhole, partition`);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, path);
  } catch (error) {
    throw new SystemError('FILE_WRITE', `cannot write lab file ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Reads a JSON file; null when it does not exist or is not JSON. */
export async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return null;
  }
}
