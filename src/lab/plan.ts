/**
 * The pure "what to build" plan of the lab: from a spec, the simulated VPC (subnets per AZ, route
 * tables, instances with their ENIs, namespaces, the internet side). No I/O: `buildLab`
 * (src/lab/topology.ts) executes a plan, and the lab's EC2 model can be seeded from the same data
 * so that the API and the kernel agree on every id, MAC and address.
 *
 * Layout decisions (each stated once, here):
 * - Every subnet is a /24: the /24 holding each LB node address and each in-VPC backend address.
 *   Its gateway is `.1` (the router), so spec addresses may not be `.0`, `.1` or `.255`.
 * - LB subnets take the AZ of their nodes; backend-only subnets are spread over the AZs in order;
 *   every AZ gets a client subnet (free /24s, from `x.y.200.0/24` upwards when the VPC allows).
 * - Route tables: a main table (kernel table 100) plus, by default, one per subnet (101, 102...).
 * - Each ENI has a routing realm (1-255): routes that target it carry the realm, which lets the
 *   router enforce source/destination check on forwarded packets (iptables `-m realm`).
 * - The internet side uses TEST-NET-2 (198.51.100.0/24) and Elastic IPs come from TEST-NET-3
 *   (203.0.113.0/24): documentation ranges that are never routed on a real network.
 */
import { createHash } from 'node:crypto';
import type { Backend, Cidr, Cluster, ClusterNode, Ipv4, Server } from '../model/spec.js';
import { UserError } from '../util/errors.js';

/** The part of a spec the lab needs; a full `Spec` satisfies it. */
export interface LabSpec {
  readonly cluster: Pick<Cluster, 'name' | 'vip' | 'vpcCidrs'> & {
    readonly nodes: readonly Pick<ClusterNode, 'name' | 'address' | 'zone'>[];
    readonly cloud: { readonly region?: string; readonly vpcId?: string };
  };
  readonly backends: readonly (Pick<Backend, 'name'> & { readonly servers: readonly Pick<Server, 'name' | 'address' | 'port'>[] })[];
}

export interface PlanLabOptions {
  /** Number of availability zones. */
  readonly azs: 2 | 3;
  /** Prefix of every namespace name: lower-case letter, then up to 11 of [a-z0-9-]. @default "olb-" */
  readonly prefix?: string;
  /** `per-subnet`: a main table plus one table per subnet; `main`: every subnet uses the main table. @default "per-subnet" */
  readonly routeTables?: 'per-subnet' | 'main';
  /** Initial source/destination check of the LB nodes' ENIs (AWS's default is on). @default true */
  readonly lbSourceDestCheck?: boolean;
  /**
   * A bare account: the LB subnets are laid out from the spec's nodes, but no LB node instance is
   * made (a provisioner launches them through the API). @default false
   */
  readonly bare?: boolean;
}

export type LabSubnetRole = 'lb' | 'backend' | 'client';
/** `instance`: launched through the lab's API (RunInstances), not part of the plan. */
export type LabInstanceRole = 'lb-node' | 'backend' | 'client' | 'instance';

export interface LabSubnet {
  /** `subnet-` + 17 hex digits. */
  readonly id: string;
  /** Human name, for example `lb-1`, `backend-2`, `client-us-east-1a`. */
  readonly name: string;
  readonly role: LabSubnetRole;
  readonly az: string;
  readonly cidr: Cidr;
  /** The router's address in the subnet (`.1`). */
  readonly gateway: Ipv4;
  /** The router namespace's bridge for this subnet (the `iif` of its policy rule). */
  readonly routerInterface: string;
  readonly routeTableId: string;
}

export interface LabRouteTable {
  /** `rtb-` + 17 hex digits. */
  readonly id: string;
  /** The kernel routing table number in the router namespace. */
  readonly tableNumber: number;
  readonly main: boolean;
  /** Subnets explicitly associated (empty for the main table in `per-subnet` mode). */
  readonly subnetIds: readonly string[];
}

export interface LabEni {
  /** `eni-` + 17 hex digits. */
  readonly id: string;
  /** Locally administered unicast MAC, set on the instance's `eth0`. */
  readonly mac: string;
  readonly privateIp: Ipv4;
  readonly subnetId: string;
  /** Initial source/destination check. */
  readonly sourceDestCheck: boolean;
  /** Routing realm (1-255) carried by routes that target this ENI. */
  readonly realm: number;
}

export interface LabHttpListener {
  readonly address: Ipv4;
  readonly port: number;
  /** What the server answers (the spec's server name). */
  readonly name: string;
}

export interface LabInstance {
  /** Spec node name for LB nodes; `be-10-0-11-10` for backends; `client-<az>` for clients. */
  readonly name: string;
  readonly role: LabInstanceRole;
  /** `i-` + 17 hex digits. */
  readonly instanceId: string;
  readonly az: string;
  readonly namespace: string;
  /** The router-side veth (a port of the subnet's bridge). */
  readonly routerPort: string;
  readonly eni: LabEni;
  /** LB nodes carry the VIP on `lo`. */
  readonly vipOnLoopback: boolean;
  /** Backends: the HTTP name servers to start. */
  readonly listeners: readonly LabHttpListener[];
}

export interface LabInternet {
  readonly namespace: string;
  /** The router's interface towards the internet. */
  readonly routerInterface: string;
  readonly cidr: Cidr;
  readonly routerAddress: Ipv4;
  /** The internet client's address (in `namespace`). */
  readonly clientAddress: Ipv4;
  /** Where Elastic IPs come from. */
  readonly elasticIpPool: Cidr;
}

export interface LabPlan {
  readonly version: 1;
  /** A bare account (PlanLabOptions.bare): no LB node instances, an internet gateway, no LB role. */
  readonly bare?: boolean;
  readonly prefix: string;
  readonly clusterName: string;
  readonly region: string;
  readonly vpc: { readonly id: string; readonly cidr: Cidr };
  readonly vip: Ipv4;
  readonly azs: readonly string[];
  readonly router: {
    readonly namespace: string;
    /** Addresses on the router's `lo` for services reachable from every instance (IMDS, EC2 API). */
    readonly serviceAddresses: { readonly imds: Ipv4; readonly api: Ipv4 };
  };
  readonly subnets: readonly LabSubnet[];
  readonly routeTables: readonly LabRouteTable[];
  readonly instances: readonly LabInstance[];
  readonly internet: LabInternet;
  /** Spec servers outside the VPC CIDR: the lab does not simulate them. */
  readonly skippedServers: readonly { readonly backend: string; readonly server: string; readonly address: Ipv4 }[];
}

/** Kernel table number of the main route table; per-subnet tables follow it. */
export const MAIN_TABLE_NUMBER = 100;
const PREFIX_RE = /^[a-z][a-z0-9-]{0,11}$/;
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;

/**
 * Plans the lab for a spec. Pure and deterministic: the same spec and options give the same ids.
 * @throws UserError LAB_PLAN_INVALID when the spec cannot be laid out (VPC smaller than /24, an
 *   address that is a subnet's network, gateway or broadcast address, one /24 in two AZs, more
 *   zones than `azs`, a bad prefix or node name).
 */
export function planLab(spec: LabSpec, options: PlanLabOptions): LabPlan {
  const prefix = options.prefix ?? 'olb-';
  if (!PREFIX_RE.test(prefix)) {
    invalid(`lab prefix ${JSON.stringify(prefix)} is invalid: allowed is a lower-case letter followed by up to 11 of a-z, 0-9, '-' (for example "olb-")`);
  }
  const vpcCidr = spec.cluster.vpcCidrs[0];
  if (vpcCidr === undefined) invalid('the spec has no cluster.vpcCidrs: the lab needs the VPC CIDR to lay out subnets; add one, for example 10.0.0.0/16');
  const vpc = parseCidr(vpcCidr);
  if (vpc.length > 24) invalid(`VPC CIDR ${vpcCidr} is smaller than a /24: the lab lays out /24 subnets; use a /16 to /22 VPC`);
  const id = (kind: string, name: string): string => `${kind}-${hex(`${prefix}|${spec.cluster.name}|${kind}|${name}`, 17)}`;

  const region = spec.cluster.cloud.region ?? spec.cluster.nodes[0]?.zone.replace(/[a-z]$/, '') ?? 'us-east-1';
  const azs: string[] = [];
  for (const node of spec.cluster.nodes) if (!azs.includes(node.zone)) azs.push(node.zone);
  if (azs.length > options.azs) {
    invalid(`the spec's nodes are in ${azs.length} zones (${azs.join(', ')}) but the lab was asked for ${options.azs}: use --azs ${azs.length === 3 ? 3 : '3'} or move nodes into fewer zones`);
  }
  for (const letter of 'abcdefgh') {
    if (azs.length >= options.azs) break;
    if (!azs.includes(`${region}${letter}`)) azs.push(`${region}${letter}`);
  }

  // /24 blocks in use: base address -> { role, az }.
  interface Block { base: number; role: LabSubnetRole; az: string }
  const blocks: Block[] = [];
  const blockOf = (address: Ipv4, what: string): number => {
    const n = parseIpv4(address);
    if (!contains(vpc, n)) invalid(`${what} address ${address} is outside the VPC CIDR ${vpcCidr}`);
    const host = n & 0xff;
    if (host === 0 || host === 1 || host === 255) {
      invalid(`${what} address ${address} is the network, gateway (.1) or broadcast address of its lab subnet ${formatIpv4(n & ~0xff)}/24: use a host address from .2 to .254`);
    }
    return (n & ~0xff) >>> 0;
  };
  const nodeNames = new Set<string>();
  for (const node of spec.cluster.nodes) {
    if (!NAME_RE.test(node.name)) invalid(`node name ${JSON.stringify(node.name)} cannot name a lab namespace: allowed are 1-40 of a-z, 0-9, '-'`);
    nodeNames.add(node.name);
    const base = blockOf(node.address, `node ${node.name}`);
    const existing = blocks.find((b) => b.base === base);
    if (existing === undefined) blocks.push({ base, role: 'lb', az: node.zone });
    else if (existing.az !== node.zone) {
      invalid(`nodes in zones ${existing.az} and ${node.zone} share the subnet ${formatIpv4(base)}/24: a subnet lies in one AZ; give each zone its own /24`);
    }
  }

  // Backends: one instance per distinct in-VPC address, listening on each of its ports.
  const backendListeners = new Map<number, LabHttpListener[]>();
  const skippedServers: { backend: string; server: string; address: Ipv4 }[] = [];
  let backendAz = 0;
  for (const backend of spec.backends) {
    for (const server of backend.servers) {
      if (!contains(vpc, parseIpv4(server.address))) {
        skippedServers.push({ backend: backend.name, server: server.name, address: server.address });
        continue;
      }
      const base = blockOf(server.address, `server ${backend.name}/${server.name}`);
      if (!blocks.some((b) => b.base === base)) {
        blocks.push({ base, role: 'backend', az: azs[backendAz % azs.length] ?? region });
        backendAz += 1;
      }
      const key = parseIpv4(server.address);
      const listeners = backendListeners.get(key) ?? [];
      if (!listeners.some((l) => l.port === server.port)) listeners.push({ address: server.address, port: server.port, name: server.name });
      backendListeners.set(key, listeners);
    }
  }
  for (const az of azs) {
    const base = freeBlock(vpc, blocks.map((b) => b.base));
    if (base === undefined) invalid(`VPC CIDR ${vpcCidr} has no free /24 left for the client subnet of ${az}: use a larger VPC CIDR`);
    blocks.push({ base, role: 'client', az });
  }

  const perSubnet = (options.routeTables ?? 'per-subnet') === 'per-subnet';
  const mainTableId = id('rtb', 'main');
  const subnets: LabSubnet[] = blocks.map((b, i) => {
    const name = b.role === 'client' ? `client-${b.az}` : `${b.role}-${i + 1}`;
    return {
      id: id('subnet', name),
      name,
      role: b.role,
      az: b.az,
      cidr: `${formatIpv4(b.base)}/24`,
      gateway: formatIpv4(b.base + 1),
      routerInterface: `s${i}`,
      routeTableId: perSubnet ? id('rtb', name) : mainTableId,
    };
  });
  const routeTables: LabRouteTable[] = [
    { id: mainTableId, tableNumber: MAIN_TABLE_NUMBER, main: true, subnetIds: perSubnet ? [] : subnets.map((s) => s.id) },
    ...(perSubnet ? subnets.map((s, i) => ({ id: s.routeTableId, tableNumber: MAIN_TABLE_NUMBER + 1 + i, main: false, subnetIds: [s.id] })) : []),
  ];
  const subnetFor = (address: Ipv4): LabSubnet => {
    const base = (parseIpv4(address) & ~0xff) >>> 0;
    const found = subnets.find((s) => parseCidr(s.cidr).base === base);
    if (found === undefined) throw new UserError('INTERNAL', `no lab subnet holds ${address}`);
    return found;
  };

  const instances: LabInstance[] = [];
  const addInstance = (name: string, role: LabInstanceRole, address: Ipv4, listeners: readonly LabHttpListener[]): void => {
    if (instances.some((i) => i.name === name)) invalid(`two lab instances would be named ${name}: rename the node so it does not clash with the lab's own instance names`);
    if (instances.length >= 255) invalid('the lab supports at most 255 instances (one routing realm each): use fewer backend addresses');
    const subnet = subnetFor(address);
    const eniId = id('eni', name);
    instances.push({
      name,
      role,
      instanceId: id('i', name),
      az: subnet.az,
      namespace: `${prefix}${name}`,
      routerPort: `p${instances.length}`,
      eni: {
        id: eniId,
        mac: `02:${hex(eniId, 10).replace(/(..)(?!$)/g, '$1:')}`,
        privateIp: address,
        subnetId: subnet.id,
        sourceDestCheck: role === 'lb-node' ? (options.lbSourceDestCheck ?? true) : true,
        realm: instances.length + 1,
      },
      vipOnLoopback: role === 'lb-node',
      listeners,
    });
  };
  if (options.bare !== true) for (const node of spec.cluster.nodes) addInstance(node.name, 'lb-node', node.address, []);
  for (const [key, listeners] of backendListeners) addInstance(`be-${formatIpv4(key).replaceAll('.', '-')}`, 'backend', formatIpv4(key), listeners);
  for (const subnet of subnets.filter((s) => s.role === 'client')) {
    addInstance(`client-${subnet.az}`, 'client', formatIpv4(parseCidr(subnet.cidr).base + 10), []);
  }
  if (nodeNames.has('router') || nodeNames.has('internet')) invalid('node names "router" and "internet" are reserved by the lab: rename the node');

  return {
    version: 1,
    ...(options.bare === true ? { bare: true } : {}),
    prefix,
    clusterName: spec.cluster.name,
    region,
    vpc: { id: spec.cluster.cloud.vpcId ?? id('vpc', 'vpc'), cidr: vpcCidr },
    vip: spec.cluster.vip,
    azs,
    router: { namespace: `${prefix}router`, serviceAddresses: { imds: '169.254.169.254', api: '169.254.169.250' } },
    subnets,
    routeTables,
    instances,
    internet: {
      namespace: `${prefix}internet`,
      routerInterface: 'pub0',
      cidr: '198.51.100.0/24',
      routerAddress: '198.51.100.1',
      clientAddress: '198.51.100.10',
      elasticIpPool: '203.0.113.0/24',
    },
    skippedServers,
  };
}

/** Finds an instance of the plan by name, instance id or ENI id; undefined when none. */
export function findInstance(plan: LabPlan, key: string): LabInstance | undefined {
  return plan.instances.find((i) => i.name === key || i.instanceId === key || i.eni.id === key);
}

/** Every namespace a plan creates: router, instances, internet. */
export function planNamespaces(plan: LabPlan): readonly string[] {
  return [plan.router.namespace, ...plan.instances.map((i) => i.namespace), plan.internet.namespace];
}

function invalid(message: string): never {
  throw new UserError('LAB_PLAN_INVALID', message);
}

function hex(input: string, length: number): string {
  return createHash('sha256').update(input).digest('hex').slice(0, length);
}

/** Parses a dotted quad to an unsigned 32-bit number. */
export function parseIpv4(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) invalid(`${JSON.stringify(address)} is not an IPv4 address`);
  return parts.reduce((acc, p) => acc * 256 + p, 0) >>> 0;
}

/** Formats an unsigned 32-bit number as a dotted quad. */
export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

/** Parses `a.b.c.d/len`. */
export function parseCidr(cidr: string): { base: number; length: number } {
  const [address, len] = cidr.split('/');
  const length = Number(len);
  if (address === undefined || !Number.isInteger(length) || length < 0 || length > 32) invalid(`${JSON.stringify(cidr)} is not a CIDR`);
  const mask = length === 0 ? 0 : (~0 << (32 - length)) >>> 0;
  return { base: (parseIpv4(address) & mask) >>> 0, length };
}

function contains(net: { base: number; length: number }, n: number): boolean {
  const mask = net.length === 0 ? 0 : (~0 << (32 - net.length)) >>> 0;
  return ((n & mask) >>> 0) === net.base;
}

function freeBlock(vpc: { base: number; length: number }, used: readonly number[]): number | undefined {
  const count = 2 ** (24 - vpc.length);
  const start = count > 200 ? 200 : 0;
  for (let k = 0; k < count; k += 1) {
    const base = (vpc.base + ((start + k) % count) * 256) >>> 0;
    if (!used.includes(base)) return base;
  }
  return undefined;
}
