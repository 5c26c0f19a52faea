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
 *   SNAT private -> public on packets to it. EC2 translates every packet by the current mapping
 *   (stateless 1:1 NAT at the VPC edge), so a connection open across a move reaches the new
 *   node, which resets it; iptables NAT is stateful instead (conntrack would keep such a
 *   connection on the old node, making a move look lossless). So each association puts its
 *   flows in a conntrack zone of their own, the zone of the ENI's realm (raw table,
 *   `-j CT --zone`): after a move, packets of an old connection miss their old entry and are
 *   translated afresh to the new node, as in EC2; and a move back finds the old entries again,
 *   as a stateless mapping would. The raw rule that picks the zone also marks the packet, and
 *   the DNAT/SNAT rules translate only packets marked with their zone, so zone and translation
 *   change together in one commit of the raw table (`setEipRules`): no packet meets no mapping,
 *   and none gets an entry in one association's zone translated to another node.
 * The rules are tagged with iptables comments, so any process can undo them (no memory needed).
 */
import type { LabPlan, LabInstance } from './plan.js';
import { findInstance } from './plan.js';
import { execIn, iptablesIn, ipIn, runCommand } from './netns.js';
import { UserError } from '../util/errors.js';
import type { EniFirewall } from './ec2/security-groups.js';
import { renderSecurityGroupRules, securityGroupChainsIn, SECURITY_GROUP_CHAIN } from './security-group-datapath.js';

/**
 * The bits of the packet mark (router namespace) that carry an Elastic IP association's conntrack
 * zone from the raw table to the nat table (see `setEipRules`); nothing else in the lab marks
 * packets there.
 */
const EIP_MARK_MASK = '0xffff';

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
  /** filter/FORWARD: security groups (after the source/destination check; src/lab/security-group-datapath.ts). */
  securityGroups: SECURITY_GROUP_CHAIN,
  /** nat/PREROUTING: Elastic IP DNAT. */
  eipPrerouting: 'OLB-EIP-PRE',
  /** nat/POSTROUTING: Elastic IP SNAT. */
  eipPostrouting: 'OLB-EIP-POST',
  /** raw/PREROUTING: the conntrack zone of each Elastic IP association's flows. */
  eipZone: 'OLB-EIP-ZONE',
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
  | {
    readonly type: 'route-changed'; readonly routeTableId: string; readonly destinationCidrBlock: string;
    readonly target: { readonly networkInterfaceId: string } | { readonly gatewayId: string } | null;
  }
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
  /**
   * Replaces every ENI's security-group rules in one iptables commit. `firewalls` is read when
   * the change runs (the newest state; requests that queue up meanwhile collapse into one).
   */
  setSecurityGroups(firewalls: () => readonly EniFirewall[], options: IoOptions): Promise<void>;
  /** Makes an instance launched through the API a route, source/dest-check and Elastic IP target. */
  addInstance(instance: LabInstance): void;
  /** Forgets a terminated API instance and removes its source/destination check rules. */
  removeInstance(networkInterfaceId: string, options: IoOptions): Promise<void>;
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
  /** Instances launched through the API, by ENI id (the plan's are in plan.instances). */
  const launched = new Map<string, LabInstance>();
  const eni = (networkInterfaceId: string): LabInstance => {
    const found = plan.instances.find((i) => i.eni.id === networkInterfaceId) ?? launched.get(networkInterfaceId);
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

  const replaceArgs = (change: RouteChange, target: LabInstance): string[] => [
    'route', 'replace', change.destinationCidrBlock, 'via', target.eni.privateIp, 'dev', subnetInterface(target),
    'table', String(change.tableNumber), 'realm', String(target.eni.realm),
  ];
  const checkTable = (change: RouteChange): void => {
    if (!plan.routeTables.some((t) => t.tableNumber === change.tableNumber)) {
      throw new UserError('LAB_UNKNOWN_NAME', `kernel table ${change.tableNumber} is not a lab route table: known are ${plan.routeTables.map((t) => t.tableNumber).join(', ')}`);
    }
  };
  const applyRoute = async (change: RouteChange, options: IoOptions): Promise<void> => {
    checkTable(change);
    if (change.target === null) {
      await runCommand(ipIn(router, ['route', 'del', change.destinationCidrBlock, 'table', String(change.tableNumber)]), { ...options, allowFailure: true });
      return;
    }
    await runCommand(ipIn(router, replaceArgs(change, eni(change.target.networkInterfaceId))), options);
  };
  // Route replacements that arrive while the queue is busy go to the kernel together, in one
  // `ip -batch` (in order): a claim replaces the route of every table at once, and one process per
  // table made the kernel lag the API by seconds on a busy machine (measured under the tests' CPU
  // hog: 0.8-1.9 s for 7 tables), where EC2 applies a ReplaceRoute within a moment.
  let routeBatch: { readonly changes: RouteChange[]; applied: Promise<void> } | null = null;
  const replaceRouteBatched = (change: RouteChange, options: IoOptions): Promise<void> => {
    checkTable(change);
    eni((change.target as { networkInterfaceId: string }).networkInterfaceId);
    let batch = routeBatch;
    if (batch === null) {
      const fresh: { readonly changes: RouteChange[]; applied: Promise<void> } = { changes: [], applied: Promise.resolve() };
      fresh.applied = serial(async () => {
        routeBatch = null;
        const input = fresh.changes.map((c) => `${replaceArgs(c, eni((c.target as { networkInterfaceId: string }).networkInterfaceId)).join(' ')}\n`).join('');
        await runCommand(['ip', '-n', router, '-batch', '-'], { ...options, input });
      });
      routeBatch = fresh;
      batch = fresh;
    }
    batch.changes.push(change);
    return batch.applied;
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
  /**
   * Sets the rules of one Elastic IP in one `iptables-restore --noflush`: removes every rule of
   * the address (any association) and, when `to` is given, adds those of the new association. Two
   * processes in all, where a rule per process made the kernel lag the API by seconds on a busy
   * machine (measured under the tests' CPU hog: 4.2-5.5 s; iptables also waits for the xtables
   * lock, which every namespace shares).
   *
   * The zone (raw table) and the translation (nat table) of a packet must never disagree: each
   * table commits on its own, so a zone rule swapped before the DNAT rule gave every connection
   * opened in between an entry in the new zone translated to the old node (and the reverse for the
   * other order). Its answers then meet no entry and go untranslated, and the entry stays (TCP
   * SYN_SENT: 2 minutes), so a later connection from the same client port (the internet client
   * cycles through its ports within seconds under the tests' load) timed out on a node that held
   * no mapping any more (measured: one probe request 3-8 s after a move, under the CPU hog). So
   * the raw rule that picks the zone also marks the packet with it, and the nat rules translate
   * only packets with their zone's mark: the raw table alone, in one commit, decides zone and
   * translation together. The new nat rules commit before the raw swap and the old ones go after
   * it, so no packet finds its mark without its rule.
   */
  const setEipRules = async (publicIp: string, to: { readonly privateIp: string; readonly zone: number } | null, options: IoOptions): Promise<void> => {
    const tagOf = (line: string): string | undefined => /--comment "?([^" ]+)"?/.exec(line)?.[1];
    const ofIp = (tag: string | undefined): boolean => tag !== undefined && (tag === `eip:${publicIp}` || tag.startsWith(`eip:${publicIp}>`));
    const rulesOf = async (table: 'raw' | 'nat'): Promise<string[]> => {
      const saved = (await runCommand(execIn(router, ['iptables-save', '-t', table]), options)).stdout;
      const chains = table === 'raw' ? [LAB_CHAINS.eipZone] : [LAB_CHAINS.eipPrerouting, LAB_CHAINS.eipPostrouting];
      return saved.split('\n').filter((l) => chains.some((c) => l.startsWith(`-A ${c} `)) && ofIp(tagOf(l)));
    };
    const remove = (lines: readonly string[]): string[] => lines.map((l) => `-D${l.slice(2)}`);
    const pub = plan.internet.routerInterface;
    const [raw, nat] = [await rulesOf('raw'), await rulesOf('nat')];
    const sections: string[] = [];
    const section = (table: string, lines: readonly string[]): void => {
      if (lines.length > 0) sections.push(`*${table}`, ...lines, 'COMMIT');
    };
    if (to === null) {
      section('raw', remove(raw));
      section('nat', remove(nat));
    } else {
      if (!Number.isInteger(to.zone) || to.zone < 1 || to.zone > 0xffff) throw new UserError('INTERNAL', `conntrack zone ${to.zone} of ${to.privateIp} is not in 1-65535`);
      const tag = `eip:${publicIp}>${to.privateIp}@${to.zone}`;
      const comment = `-m comment --comment ${tag}`;
      const mark = `0x${to.zone.toString(16)}/${EIP_MARK_MASK}`;
      // The new association's translation, keyed by its zone's mark (kept when it is there already).
      const keep = nat.filter((l) => tagOf(l) === tag);
      section('nat', keep.length > 0 ? [] : [
        `-I ${LAB_CHAINS.eipPrerouting} 1 ${comment} -i ${pub} -d ${publicIp} -m mark --mark ${mark} -j DNAT --to-destination ${to.privateIp}`,
        `-I ${LAB_CHAINS.eipPostrouting} 1 ${comment} -o ${pub} -s ${to.privateIp} -m mark --mark ${mark} -j SNAT --to-source ${publicIp}`,
      ]);
      // Then zone and mark together, in one commit.
      section('raw', [
        ...remove(raw),
        `-I ${LAB_CHAINS.eipZone} 1 ${comment} -i ${pub} -d ${publicIp} -j CT --zone ${to.zone}`,
        `-I ${LAB_CHAINS.eipZone} 1 ${comment} -i ${pub} -d ${publicIp} -j MARK --set-xmark ${mark}`,
        `-I ${LAB_CHAINS.eipZone} 1 ${comment} -s ${to.privateIp} -d ${plan.internet.cidr} -j CT --zone ${to.zone}`,
        `-I ${LAB_CHAINS.eipZone} 1 ${comment} -s ${to.privateIp} -d ${plan.internet.cidr} -j MARK --set-xmark ${mark}`,
      ]);
      // Then the old translations, which no packet is marked for any more.
      section('nat', remove(nat.filter((l) => tagOf(l) !== tag)));
    }
    if (sections.length > 0) await runCommand(execIn(router, ['iptables-restore', '-w', '5', '--noflush']), { ...options, input: `${sections.join('\n')}\n` });
  };
  const disassociateAddress = async (change: { publicIp: string }, options: IoOptions): Promise<void> => {
    await setEipRules(change.publicIp, null, options);
  };
  const associateAddress = async (change: { publicIp: string; networkInterfaceId: string; privateIp?: string }, options: IoOptions): Promise<void> => {
    const target = eni(change.networkInterfaceId);
    await setEipRules(change.publicIp, { privateIp: change.privateIp ?? target.eni.privateIp, zone: target.eni.realm }, options);
  };

  // Security groups: the whole rule set in one commit, from the newest state when it runs; a
  // request while one is queued (not yet started) rides along with it.
  let sgQueued: { read: () => readonly EniFirewall[]; applied: Promise<void> } | null = null;
  const setSecurityGroups = (read: () => readonly EniFirewall[], options: IoOptions): Promise<void> => {
    if (sgQueued !== null) {
      sgQueued.read = read;
      return sgQueued.applied;
    }
    const job: { read: () => readonly EniFirewall[]; applied: Promise<void> } = { read, applied: Promise.resolve() };
    job.applied = serial(async () => {
      sgQueued = null;
      const firewalls = job.read();
      const saved = (await runCommand(execIn(router, ['iptables-save', '-t', 'filter']), options)).stdout;
      const input = renderSecurityGroupRules({
        firewalls, existingChains: securityGroupChainsIn(saved),
        placeOf: (fw) => {
          const subnet = plan.subnets.find((s) => s.id === fw.subnetId);
          if (subnet === undefined) return undefined;
          // The spec's instances and those launched through the API (realms from 1000 up).
          const instance = plan.instances.find((i) => i.eni.id === fw.networkInterfaceId) ?? launched.get(fw.networkInterfaceId);
          return { bridge: subnet.routerInterface, realm: instance?.eni.realm ?? null };
        },
      });
      await runCommand(execIn(router, ['iptables-restore', '-w', '5', '--noflush']), { ...options, input });
    });
    sgQueued = job;
    return job.applied;
  };

  return {
    applyRoute: (change, options) => serial(() => applyRoute(change, options)),
    setSecurityGroups,
    setSourceDestCheck: (change, options) => serial(() => setSourceDestCheck(change, options)),
    associateAddress: (change, options) => serial(() => associateAddress(change, options)),
    disassociateAddress: (change, options) => serial(() => disassociateAddress(change, options)),
    tableNumberOf,
    addInstance: (instance) => {
      launched.set(instance.eni.id, instance);
    },
    removeInstance: (networkInterfaceId, options) => serial(async () => {
      await deleteTaggedRules({ namespace: router, table: 'filter', chain: LAB_CHAINS.sourceDestCheck, tag: `sdc:${networkInterfaceId}` }, options);
      launched.delete(networkInterfaceId);
    }),
    applyEvent: async (event, options) => {
      const e = event as Record<string, unknown> & { type: string };
      switch (e.type) {
        case 'route-changed': {
          const r = event as Extract<DataPathEvent, { type: 'route-changed'; routeTableId: string }>;
          const tableNumber = tableNumberOf(r.routeTableId);
          if (r.target !== null && 'gatewayId' in r.target && r.target.gatewayId.startsWith('vgw-')) {
            // A virtual private gateway: the lab has no VPN behind it, and AWS drops what it cannot send.
            const blackhole = ['route', 'replace', 'blackhole', r.destinationCidrBlock, 'table', String(tableNumber)];
            await serial(async () => void (await runCommand(ipIn(router, blackhole), options)));
            return;
          }
          // Internet gateway routes: every kernel table already reaches the internet side (topology.ts).
          if (r.target !== null && !('networkInterfaceId' in r.target)) return;
          if (r.target !== null) await replaceRouteBatched({ tableNumber, destinationCidrBlock: r.destinationCidrBlock, target: r.target }, options);
          else await serial(() => applyRoute({ tableNumber, destinationCidrBlock: r.destinationCidrBlock, target: null }, options));
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
  target: { readonly namespace: string; readonly table: 'filter' | 'nat' | 'raw'; readonly chain: string; readonly tag: string },
  options: IoOptions,
): Promise<number> {
  return deleteRulesWhere({ ...target, match: (tag) => tag === target.tag }, options);
}

/** Deletes every rule of a chain whose comment (tag) `match` accepts. */
export async function deleteRulesWhere(
  target: { readonly namespace: string; readonly table: 'filter' | 'nat' | 'raw'; readonly chain: string; readonly match: (tag: string) => boolean },
  options: IoOptions,
): Promise<number> {
  const { stdout } = await runCommand(iptablesIn(target.namespace, ['-t', target.table, '-S', target.chain]), options);
  let deleted = 0;
  for (const line of stdout.split('\n')) {
    // `iptables -S` prints `-A CHAIN ... --comment "TAG" ...`; tags hold no spaces, only the quotes go.
    const words = line.trim().split(/\s+/).map((w) => w.replace(/^"(.*)"$/, '$1'));
    const at = words.indexOf('--comment');
    const tag = words[at + 1];
    if (words[0] !== '-A' || at < 0 || tag === undefined || !target.match(tag)) continue;
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
