/**
 * Infrastructure faults of the lab, each undone by its `clear()`. They need only the plan, so any
 * process can inject or clear them (the CLI's `lab fault` runs in another process than `lab up`):
 * firewall faults are iptables rules in the router namespace tagged `fault:<kind>:<name>`.
 *
 * - `node-down`: the instance's `eth0` goes down inside its namespace. Taking a link down deletes
 *   the routes through it (the default route); clearing brings it up and restores the route.
 * - `az-blackhole`: the router drops everything to and from the AZ's subnets (forwarded, and to
 *   or from the router itself, so IMDS and the API are unreachable from there too).
 * - `partition`: the router drops traffic between the LB subnets of the two sides (default: every
 *   AZ alone), so the LB nodes cannot see each other while clients still reach every node.
 * Same-subnet traffic does not cross the router (it is bridged), so two LB nodes in one subnet are
 * never partitioned from each other.
 */
import type { LabPlan, LabSubnet } from './plan.js';
import { LAB_CHAINS, deleteTaggedRules, requireInstance, type IoOptions } from './datapath.js';
import { ipIn, iptablesIn, killRecordedProcess, runCommand } from './netns.js';
import { readLabState } from './state-file.js';
import { UserError } from '../util/errors.js';

export type InfraFault =
  | { readonly kind: 'node-down'; readonly node: string }
  | { readonly kind: 'az-blackhole'; readonly az: string }
  | { readonly kind: 'partition'; readonly sides?: readonly [readonly string[], readonly string[]] };

/** An injected fault. */
export interface ActiveFault {
  readonly fault: InfraFault;
  /** Undoes the fault (idempotent). */
  clear(options: IoOptions): Promise<void>;
}

/**
 * Injects a fault; idempotent (injecting twice is the same as once).
 * @throws UserError LAB_UNKNOWN_NAME for an unknown node or AZ.
 */
export async function injectInfraFault(plan: LabPlan, fault: InfraFault, options: IoOptions): Promise<ActiveFault> {
  const router = plan.router.namespace;
  await clearInfraFault(plan, fault, options);
  switch (fault.kind) {
    case 'node-down': {
      const instance = requireInstance(plan, fault.node);
      await runCommand(ipIn(instance.namespace, ['link', 'set', 'eth0', 'down']), options);
      break;
    }
    case 'az-blackhole': {
      const tag = faultTag(fault);
      for (const subnet of subnetsOfAz(plan, fault.az)) {
        const i = subnet.routerInterface;
        for (const [chain, args] of [
          [LAB_CHAINS.faultForward, ['-i', i]], [LAB_CHAINS.faultForward, ['-o', i]], [LAB_CHAINS.faultInput, ['-i', i]], [LAB_CHAINS.faultOutput, ['-o', i]],
        ] as const) {
          await runCommand(iptablesIn(router, ['-A', chain, '-m', 'comment', '--comment', tag, ...args, '-j', 'DROP']), options);
        }
      }
      break;
    }
    case 'partition': {
      const tag = faultTag(fault);
      for (const [a, b] of partitionPairs(plan, fault)) {
        for (const [from, to] of [[a, b], [b, a]] as const) {
          await runCommand(
            iptablesIn(router, ['-A', LAB_CHAINS.faultForward, '-m', 'comment', '--comment', tag, '-i', from.routerInterface, '-o', to.routerInterface, '-j', 'DROP']),
            options,
          );
        }
      }
      break;
    }
  }
  return { fault, clear: (o) => clearInfraFault(plan, fault, o) };
}

/** Undoes one fault (idempotent: clearing a fault that is not there is no error). */
export async function clearInfraFault(plan: LabPlan, fault: InfraFault, options: IoOptions): Promise<void> {
  const router = plan.router.namespace;
  switch (fault.kind) {
    case 'node-down': {
      const instance = requireInstance(plan, fault.node);
      const subnet = plan.subnets.find((s) => s.id === instance.eni.subnetId);
      await runCommand(ipIn(instance.namespace, ['link', 'set', 'eth0', 'up']), options);
      // The link going down deleted the default route; bringing it up does not restore it.
      if (subnet !== undefined) await runCommand(ipIn(instance.namespace, ['route', 'replace', 'default', 'via', subnet.gateway, 'dev', 'eth0']), options);
      return;
    }
    case 'az-blackhole':
      subnetsOfAz(plan, fault.az); // validates the name
      for (const chain of [LAB_CHAINS.faultForward, LAB_CHAINS.faultInput, LAB_CHAINS.faultOutput]) {
        await deleteTaggedRules({ namespace: router, table: 'filter', chain, tag: faultTag(fault) }, options);
      }
      return;
    case 'partition':
      partitionPairs(plan, fault); // validates the names
      await deleteTaggedRules({ namespace: router, table: 'filter', chain: LAB_CHAINS.faultForward, tag: faultTag(fault) }, options);
      return;
  }
}

/** Clears every infrastructure fault: flushes the fault chains and brings every instance's link up. */
export async function clearAllInfraFaults(plan: LabPlan, options: IoOptions): Promise<void> {
  for (const chain of [LAB_CHAINS.faultForward, LAB_CHAINS.faultInput, LAB_CHAINS.faultOutput]) {
    await runCommand(iptablesIn(plan.router.namespace, ['-F', chain]), options);
  }
  for (const instance of plan.instances) await clearInfraFault(plan, { kind: 'node-down', node: instance.name }, options);
}

/**
 * Kills a process recorded in the lab's state file (by label, for example `haproxy lb-a`, or by
 * pid), checking its start time so that a reused PID is never hit. SIGKILL by default: a crash.
 * @returns `killed`, or `gone` when it had already exited.
 * @throws UserError LAB_UNKNOWN_NAME when the state file records no such process.
 */
export async function killLabProcess(
  stateFilePath: string,
  which: { readonly label: string } | { readonly pid: number },
  options: IoOptions & { readonly killSignal?: NodeJS.Signals },
): Promise<'killed' | 'gone'> {
  const state = await readLabState(stateFilePath, options);
  const processes = (state?.resources ?? []).flatMap((r) => (r.kind === 'process' && r.pid !== null ? [{ ...r, pid: r.pid }] : []));
  const match = processes.filter((p) => ('label' in which ? p.label === which.label : p.pid === which.pid)).at(-1);
  if (match === undefined) {
    throw new UserError('LAB_UNKNOWN_NAME', `the lab records no process ${JSON.stringify(which)}: recorded are ${processes.map((p) => `${p.label} (pid ${p.pid})`).join(', ') || 'none'}`);
  }
  return killRecordedProcess({ pid: match.pid, startTime: match.startTime }, { signal: options.signal, killSignal: options.killSignal ?? 'SIGKILL', graceMs: 2000 });
}

function faultTag(fault: InfraFault): string {
  if (fault.kind === 'az-blackhole') return `fault:az:${fault.az}`;
  if (fault.kind === 'partition') return `fault:partition:${fault.sides === undefined ? 'all' : fault.sides.map((s) => [...s].sort().join('+')).join('|')}`;
  return `fault:node:${fault.node}`;
}

function subnetsOfAz(plan: LabPlan, az: string): LabSubnet[] {
  const subnets = plan.subnets.filter((s) => s.az === az);
  if (subnets.length === 0) throw new UserError('LAB_UNKNOWN_NAME', `AZ ${JSON.stringify(az)} is not in the lab: known are ${plan.azs.join(', ')}`);
  return subnets;
}

function partitionPairs(plan: LabPlan, fault: Extract<InfraFault, { kind: 'partition' }>): [LabSubnet, LabSubnet][] {
  for (const az of fault.sides?.flat() ?? []) subnetsOfAz(plan, az);
  const lb = plan.subnets.filter((s) => s.role === 'lb');
  const pairs: [LabSubnet, LabSubnet][] = [];
  for (const [i, a] of lb.entries()) {
    for (const b of lb.slice(i + 1)) {
      const split = fault.sides === undefined
        ? a.az !== b.az
        : (fault.sides[0].includes(a.az) && fault.sides[1].includes(b.az)) || (fault.sides[1].includes(a.az) && fault.sides[0].includes(b.az));
      if (split) pairs.push([a, b]);
    }
  }
  return pairs;
}
