/**
 * The kernel mirror of the lab's VPC: applies what the EC2-compatible API changes (routes, the
 * source/destination check, Elastic IP associations) to the router namespace, so traffic really
 * moves. Every change runs inside the router namespace; changes are applied one at a time, in
 * the order they are given (a route change never overtakes an earlier one).
 *
 * - A route `CIDR -> ENI` in a VPC route table is `ip route replace CIDR via <ENI address> dev
 *   <subnet bridge> table <N> realm <ENI realm>`: the realm marks packets routed to that ENI.
 * - Source/destination check on (as in AWS): the router drops forwarded packets routed to the
 *   ENI (realm match) whose destination is not the ENI's address, and packets from the ENI (MAC
 *   match) whose source is not its address (so a node answering from the VIP is dropped too).
 * - An Elastic IP association is DNAT public -> private on packets from the internet side and
 *   SNAT private -> public on packets to it.
 * The rules are tagged with iptables comments, so any process can undo them (no memory needed).
 */
import type { LabPlan, LabInstance } from './plan.js';
import { findInstance } from './plan.js';
import { iptablesIn, ipIn, runCommand } from './netns.js';
import { UserError } from '../util/errors.js';

/** The iptables chains the lab creates in the router namespace. */
export const LAB_CHAINS = {
  /** filter/FORWARD: infrastructure faults (first). */
  faultForward: 'OLB-FAULT',
  /** filter/INPUT: faults for traffic to the router itself (IMDS, API). */
  faultInput: 'OLB-FAULT-IN',
  /** filter/OUTPUT: faults for traffic from the router itself. */
  faultOutput: 'OLB-FAULT-OUT',
  /** filter/FORWARD: source/destination check. */
  sourceDestCheck: 'OLB-SDC',
  /** nat/PREROUTING: Elastic IP DNAT. */
  eipPrerouting: 'OLB-EIP-PRE',
  /** nat/POSTROUTING: Elastic IP SNAT. */
  eipPostrouting: 'OLB-EIP-POST',
} as const;

export interface IoOptions {
  readonly signal: AbortSignal;
}

/** A route change: `target` null deletes the route. */
export interface RouteChange {
  readonly tableNumber: number;
  readonly destinationCidrBlock: string;
  readonly target: { readonly networkInterfaceId: string } | null;
}

/**
 * The events of the lab's EC2 model that the data path follows (structurally; other event types
 * are ignored). Route tables are named by id; the plan maps ids to kernel table numbers.
 */
export type DataPathEvent =
  | { readonly type: 'route-changed'; readonly routeTableId: string; readonly destinationCidrBlock: string; readonly target: { readonly networkInterfaceId: string } | null }
  | { readonly type: 'source-dest-check'; readonly networkInterfaceId: string; readonly enabled: boolean }
  | { readonly type: 'address-associated'; readonly publicIp: string; readonly networkInterfaceId: string; readonly privateIp?: string }
  | { readonly type: 'address-disassociated'; readonly publicIp: string }
  | { readonly type: string };

/** The kernel side of the lab's VPC. */
export interface KernelDataPath {
  /** Replaces (or with a null target deletes) a route in a kernel route table. Deleting a missing route is no error. */
  applyRoute(change: RouteChange, options: IoOptions): Promise<void>;
  /** Turns the source/destination check of an ENI on or off (idempotent). */
  setSourceDestCheck(change: { readonly networkInterfaceId: string; readonly enabled: boolean }, options: IoOptions): Promise<void>;
  /** Maps a public IP to an ENI's private address (replacing any earlier association of that IP). */
  associateAddress(change: { readonly publicIp: string; readonly networkInterfaceId: string; readonly privateIp?: string }, options: IoOptions): Promise<void>;
  /** Removes a public IP's association (idempotent). */
  disassociateAddress(change: { readonly publicIp: string }, options: IoOptions): Promise<void>;
  /** Applies one event of the lab's EC2 model; unknown event types are ignored. */
  applyEvent(event: DataPathEvent, options: IoOptions): Promise<void>;
  /** The kernel table number of a route table id. @throws UserError LAB_UNKNOWN_NAME */
  tableNumberOf(routeTableId: string): number;
}

/** Creates the data path of a built lab (router namespace, chains created by `buildLab`). */
export function createKernelDataPath(plan: LabPlan): KernelDataPath {
  const router = plan.router.namespace;
  let queue: Promise<unknown> = Promise.resolve();
  const serial = async (work: () => Promise<void>): Promise<void> => {
    const next = queue.then(work);
    queue = next.catch(() => undefined);
    await next;
  };
  const eni = (networkInterfaceId: string): LabInstance => {
    const found = plan.instances.find((i) => i.eni.id === networkInterfaceId);
    if (found === undefined) {
      throw new UserError('LAB_UNKNOWN_NAME', `network interface ${networkInterfaceId} is not in the lab: known are ${plan.instances.map((i) => i.eni.id).join(', ')}`);
    }
    return found;
  };
  const subnetInterface = (instance: LabInstance): string => {
    const subnet = plan.subnets.find((s) => s.id === instance.eni.subnetId);
    if (subnet === undefined) throw new UserError('INTERNAL', `lab plan has no subnet ${instance.eni.subnetId}`);
    return subnet.routerInterface;
  };
  const tableNumberOf = (routeTableId: string): number => {
    const table = plan.routeTables.find((t) => t.id === routeTableId);
    if (table === undefined) {
      throw new UserError('LAB_UNKNOWN_NAME', `route table ${routeTableId} is not in the lab: known are ${plan.routeTables.map((t) => t.id).join(', ')}`);
    }
    return table.tableNumber;
  };

  const applyRoute = async (change: RouteChange, options: IoOptions): Promise<void> => {
    if (!plan.routeTables.some((t) => t.tableNumber === change.tableNumber)) {
      throw new UserError('LAB_UNKNOWN_NAME', `kernel table ${change.tableNumber} is not a lab route table: known are ${plan.routeTables.map((t) => t.tableNumber).join(', ')}`);
    }
    if (change.target === null) {
      await runCommand(ipIn(router, ['route', 'del', change.destinationCidrBlock, 'table', String(change.tableNumber)]), { ...options, allowFailure: true });
      return;
    }
    const target = eni(change.target.networkInterfaceId);
    await runCommand(
      ipIn(router, [
        'route', 'replace', change.destinationCidrBlock, 'via', target.eni.privateIp, 'dev', subnetInterface(target),
        'table', String(change.tableNumber), 'realm', String(target.eni.realm),
      ]),
      options,
    );
  };
  const setSourceDestCheck = async (change: { networkInterfaceId: string; enabled: boolean }, options: IoOptions): Promise<void> => {
    const target = eni(change.networkInterfaceId);
    const tag = `sdc:${target.eni.id}`;
    await deleteTaggedRules({ namespace: router, table: 'filter', chain: LAB_CHAINS.sourceDestCheck, tag }, options);
    if (!change.enabled) return;
    const chain = ['-A', LAB_CHAINS.sourceDestCheck, '-m', 'comment', '--comment', tag];
    await runCommand(iptablesIn(router, [...chain, '-m', 'realm', '--realm', String(target.eni.realm), '!', '-d', target.eni.privateIp, '-j', 'DROP']), options);
    await runCommand(
      iptablesIn(router, [...chain, '-i', subnetInterface(target), '-m', 'mac', '--mac-source', target.eni.mac, '!', '-s', target.eni.privateIp, '-j', 'DROP']),
      options,
    );
  };
  const disassociateAddress = async (change: { publicIp: string }, options: IoOptions): Promise<void> => {
    const tag = `eip:${change.publicIp}`;
    await deleteTaggedRules({ namespace: router, table: 'nat', chain: LAB_CHAINS.eipPrerouting, tag }, options);
    await deleteTaggedRules({ namespace: router, table: 'nat', chain: LAB_CHAINS.eipPostrouting, tag }, options);
  };
  const associateAddress = async (change: { publicIp: string; networkInterfaceId: string; privateIp?: string }, options: IoOptions): Promise<void> => {
    const target = eni(change.networkInterfaceId);
    const privateIp = change.privateIp ?? target.eni.privateIp;
    const tag = `eip:${change.publicIp}`;
    await disassociateAddress(change, options);
    const pub = plan.internet.routerInterface;
    await runCommand(
      iptablesIn(router, ['-t', 'nat', '-A', LAB_CHAINS.eipPrerouting, '-m', 'comment', '--comment', tag, '-i', pub, '-d', change.publicIp, '-j', 'DNAT', '--to-destination', privateIp]),
      options,
    );
    await runCommand(
      iptablesIn(router, ['-t', 'nat', '-A', LAB_CHAINS.eipPostrouting, '-m', 'comment', '--comment', tag, '-o', pub, '-s', privateIp, '-j', 'SNAT', '--to-source', change.publicIp]),
      options,
    );
  };

  return {
    applyRoute: (change, options) => serial(() => applyRoute(change, options)),
    setSourceDestCheck: (change, options) => serial(() => setSourceDestCheck(change, options)),
    associateAddress: (change, options) => serial(() => associateAddress(change, options)),
    disassociateAddress: (change, options) => serial(() => disassociateAddress(change, options)),
    tableNumberOf,
    applyEvent: async (event, options) => {
      const e = event as Record<string, unknown> & { type: string };
      switch (e.type) {
        case 'route-changed': {
          const r = event as Extract<DataPathEvent, { type: 'route-changed'; routeTableId: string }>;
          const tableNumber = tableNumberOf(r.routeTableId);
          await serial(() => applyRoute({ tableNumber, destinationCidrBlock: r.destinationCidrBlock, target: r.target }, options));
          return;
        }
        case 'source-dest-check': {
          const s = event as Extract<DataPathEvent, { enabled: boolean }>;
          await serial(() => setSourceDestCheck(s, options));
          return;
        }
        case 'address-associated': {
          const a = event as Extract<DataPathEvent, { type: 'address-associated'; publicIp: string }>;
          await serial(() => associateAddress(a, options));
          return;
        }
        case 'address-disassociated': {
          const d = event as Extract<DataPathEvent, { type: 'address-disassociated'; publicIp: string }>;
          await serial(() => disassociateAddress(d, options));
          return;
        }
        default:
          return;
      }
    },
  };
}

/** Deletes every rule of a chain that carries the comment `tag`. */
export async function deleteTaggedRules(
  target: { readonly namespace: string; readonly table: 'filter' | 'nat'; readonly chain: string; readonly tag: string },
  options: IoOptions,
): Promise<number> {
  const { stdout } = await runCommand(iptablesIn(target.namespace, ['-t', target.table, '-S', target.chain]), options);
  let deleted = 0;
  for (const line of stdout.split('\n')) {
    // `iptables -S` prints `-A CHAIN ... --comment "TAG" ...`; tags hold no spaces, only the quotes go.
    const words = line.trim().split(/\s+/).map((w) => w.replace(/^"(.*)"$/, '$1'));
    const at = words.indexOf('--comment');
    if (words[0] !== '-A' || at < 0 || words[at + 1] !== target.tag) continue;
    await runCommand(iptablesIn(target.namespace, ['-t', target.table, '-D', ...words.slice(1)]), options);
    deleted += 1;
  }
  return deleted;
}

/** Resolves an instance by name, instance id or ENI id. @throws UserError LAB_UNKNOWN_NAME */
export function requireInstance(plan: LabPlan, key: string): LabInstance {
  const found = findInstance(plan, key);
  if (found === undefined) {
    throw new UserError('LAB_UNKNOWN_NAME', `${JSON.stringify(key)} is not a lab instance: known are ${plan.instances.map((i) => i.name).join(', ')}`);
  }
  return found;
}
