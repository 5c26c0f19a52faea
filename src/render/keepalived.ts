/**
 * keepalived compiler: the validated model -> keepalived.conf for one node (keepalived 2.2.7).
 *
 * Pure and deterministic: the same spec, node and hash always give the same bytes. The output
 * is checked by `keepalived --config-test` in the golden tests and run for real in network
 * namespaces by test/render/keepalived-netns.test.ts.
 *
 * Design choices (see docs of keepalived.conf(5) for every keyword):
 * - VRRPv3 unicast (`vrrp_version 3`): sub-second adverts need v3; cloud VPCs carry no multicast.
 * - Every node starts `state BACKUP`; the election uses the model's priorities.
 * - keepalived manages only a throwaway marker address on `lo`, NEVER the VIP: VRRPv3 refuses to
 *   start without a managed address, and a managed VIP is deleted on the backups, where HAProxy
 *   then cannot bind it. The agent configures the VIP on `lo` on every node itself.
 * - Transitions reach the agent through `vrrp_notify_fifo` only (no notify shell scripts); see
 *   `KEEPALIVED_FIFO_LINE_RE` for the line format (the one grammar, which the agent parses with).
 * - Health reaches keepalived through a `track_file` that the agent writes (event-driven:
 *   `vrrp_track_process` does not work inside a network namespace and scripts run at most once
 *   a second). A dead agent, whose track file would otherwise stay "0" forever, is caught by a
 *   `vrrp_script` that checks the agent's heartbeat file (`keepalivedAlivePath`, touched every
 *   second) is younger than `AGENT_ALIVE_GRACE_MS`: a restarted agent has that long to beat again
 *   (it does so first thing, long before it could answer HTTP), and a dead agent is noticed
 *   within `AGENT_DEAD_BOUND_MS`.
 */
import { posix } from 'node:path';

import type { Spec } from '../model/spec.js';
import { parseIpv4 } from '../util/ipv4.js';
import { SAFE_NAME_RE, quoteForMessage } from '../speclang/names.js';
import { findNode } from '../speclang/nodes.js';
import { SystemError } from '../util/errors.js';
import { nodePaths } from '../util/node-paths.js';

/** Options of `renderKeepalived`. */
export interface RenderKeepalivedOptions {
  /** The node to render for: one of `spec.cluster.nodes[].name`. */
  readonly node: string;
  /** Lower-case hex sha256 of the spec text, written in the header. */
  readonly specHash: string;
  /**
   * Render the `vrrp_script` that puts the node in FAULT when the agent's `/alive` endpoint
   * stops answering. Turn off only in tests that run keepalived without an agent.
   * @default true
   */
  readonly agentCheck?: boolean;
}

/** Name of the `track_file` block fed by the agent. */
export const KEEPALIVED_TRACK_FILE_NAME = 'olb_health';
/** Name of the `track_file` block through which a planned switchover moves the preference. */
export const KEEPALIVED_PRIORITY_FILE_NAME = 'olb_priority';

/**
 * Path of the priority file: `<stateDir>/priority`, read by keepalived with weight 1: the number in
 * it is added to the node's priority (the sum is clamped to 1..254), and -254 puts the node in
 * FAULT. `overlay-lb switchover` writes `254 - priority` on the preferred node, 0 elsewhere.
 */
export function keepalivedPriorityPath(stateDir: string): string {
  return nodePaths(stateDir).priority;
}

/** Name of the `vrrp_script` that checks the agent is alive. */
export const KEEPALIVED_AGENT_SCRIPT_NAME = 'olb_agent';
/** The unprivileged user and group scripts run as by default (they exist on Debian and Ubuntu). */
export const KEEPALIVED_SCRIPT_USER = { user: 'nobody', group: 'nogroup' } as const;
/** The binary of the agent check. Absolute, root-owned: `enable_script_security` accepts it. */
export const KEEPALIVED_FIND = '/usr/bin/find';
/** Exits 1: `find -exec` fails the check through it when the heartbeat is stale. */
export const KEEPALIVED_FALSE = '/bin/false';

/**
 * Path of the agent's heartbeat file: `<stateDir>/alive`. The agent sets its modification time
 * to now every {@link AGENT_HEARTBEAT_INTERVAL_MS} while it runs (and once more when it stops);
 * keepalived's agent check fails when it is older than {@link AGENT_ALIVE_GRACE_MS} or missing.
 */
export function keepalivedAlivePath(stateDir: string): string {
  return nodePaths(stateDir).alive;
}

/** How often the agent touches its heartbeat file. */
export const AGENT_HEARTBEAT_INTERVAL_MS = 1000;
/**
 * How old the heartbeat may be before the agent counts as dead: the whole budget of an agent
 * restart (stop, start, imports, spec load, first beat), on a node whose CPUs are saturated too.
 * A restarted agent takes ~1.2 s to its first beat on a loaded node, several seconds with every
 * core busy; it did not need to answer HTTP (its status server comes seconds later).
 */
export const AGENT_ALIVE_GRACE_MS = 10_000;
/** Consecutive failed checks (1 s apart) before FAULT: one slow `find` on a starved node is not a dead agent. */
const AGENT_CHECK_FALL = 2;
/**
 * The longest a dead (killed, hung) agent goes unnoticed: its last beat ages past the grace, then
 * {@link AGENT_CHECK_FALL} checks 1 s apart fail (each allowed 2 s on a starved node), then
 * keepalived enters FAULT and gives up mastership: 10 s + 2 x 1 s + 3 s of slack = 15 s.
 */
export const AGENT_DEAD_BOUND_MS = AGENT_ALIVE_GRACE_MS + AGENT_CHECK_FALL * 1000 + 3000;

/** The state changes keepalived reports on the `vrrp_notify_fifo`. */
export const VRRP_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP', 'DELETED'] as const;
/** The events keepalived reports there without a state change. */
export const VRRP_EVENTS = ['MASTER_RX_LOWER_PRI', 'MASTER_PRIORITY', 'BACKUP_PRIORITY'] as const;
/** A state or an event word of a notify line. */
export type VrrpNotifyWord = (typeof VRRP_STATES)[number] | (typeof VRRP_EVENTS)[number];

/**
 * The one grammar of a line keepalived 2.2.7 writes to the `vrrp_notify_fifo` configured here
 * (one `write(2)` per line, in the order of the transitions), used by the agent's parser
 * (src/keepalived/notify-line.ts). Source: vrrp_notify.c `notify_fifo()`, format
 * `"%s \"%s\" %s %d\n"`:
 *
 * ```
 * INSTANCE "OLB_DEMO" BACKUP 200
 * INSTANCE "OLB_DEMO" MASTER 200
 * INSTANCE "OLB_DEMO" FAULT 200
 * INSTANCE "OLB_DEMO" MASTER_RX_LOWER_PRI 200
 * INSTANCE "OLB_DEMO" STOP 200
 * ```
 *
 * - groups: 1 `INSTANCE` (`GROUP` for sync groups, which we do not render), 2 the name exactly as
 *   configured, not escaped (keepalived accepts `.`, `:`, `@`, `/`, `'`, non-ASCII letters and,
 *   quoted in the config, spaces; the name is greedy so even a `"` in it is kept), 3 the state or
 *   event, 4 the instance's configured priority (an unsigned byte), always present.
 * - States: MASTER, BACKUP, FAULT, STOP (keepalived is stopping), DELETED (removed by a reload).
 * - Events, not state changes: `MASTER_RX_LOWER_PRI` is written while MASTER each time an advert
 *   with a lower priority arrives, i.e. another node also believes it is master (a healed
 *   partition): the agent must re-claim the routes. keepalived writes it to the FIFO without any
 *   `notify_master_rx_lower_pri` script configured (vrrp_notify.c `send_event_notify`), so we
 *   configure no script. `MASTER_PRIORITY` / `BACKUP_PRIORITY` only with `notify_priority_changes`
 *   (not rendered).
 * - keepalived opens the FIFO at start (it must exist: the agent creates it with mkfifo before
 *   starting keepalived) and writes `STOP` lines when it stops.
 * Checked against the real keepalived 2.2.7 by test/keepalived/notify-line-real.test.ts.
 */
export const KEEPALIVED_FIFO_LINE_RE = new RegExp(`^(INSTANCE|GROUP) "(.*)" (${[...VRRP_STATES, ...VRRP_EVENTS].join('|')}) ([0-9]{1,3})$`, 's');

/** Path of the notify FIFO: `<stateDir>/keepalived.fifo`. */
export function keepalivedFifoPath(stateDir: string): string {
  return nodePaths(stateDir).keepalivedFifo;
}

/**
 * Path of the track file: `<stateDir>/track`. The agent writes `0` while this node may be master
 * (haproxy up with backends), anything else (`1`) to put it in FAULT. Replace it atomically
 * (write a temp file in the same directory, then rename). A missing file reads as FAULT
 * (keepalived creates it with `1`, `init_file 1`).
 */
export function keepalivedTrackPath(stateDir: string): string {
  return nodePaths(stateDir).track;
}

/** VRRP instance name of a cluster: `OLB_` + the name upper-cased, '-' -> '_' (`demo-1` -> `OLB_DEMO_1`). */
export function keepalivedInstanceName(clusterName: string): string {
  return `OLB_${clusterName.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * Renders keepalived.conf for one node.
 *
 * @throws UserError SPEC_NODE when `options.node` is not a node of the spec.
 * @throws SystemError INTERNAL when a value that reaches the file is not a validated name,
 *   number, IPv4 address or absolute path (the spec layer should have rejected it).
 */
export function renderKeepalived(spec: Spec, options: RenderKeepalivedOptions): string {
  const { cluster, admin } = spec;
  const node = findNode(cluster, options.node);
  const { vrrp } = cluster;
  const hash = safe('spec hash', options.specHash, /^[0-9a-f]{64}$/, 'lower-case hex sha256');
  const clusterName = safe('cluster name', cluster.name, SAFE_NAME_RE, 'a safe name');
  const nodeName = safe('node name', node.name, SAFE_NAME_RE, 'a safe name');
  const ifname = safe('interface', node.interface, /^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/, 'a Linux interface name');
  const src = ipv4('node address', node.address);
  const peers = cluster.nodes.filter((n) => n !== node).map((n) => ipv4(`address of node ${n.name}`, n.address));
  const marker = ipv4('marker address', vrrp.markerAddress);
  const stateDir = absolutePath('stateDir', admin.stateDir);
  const priority = int('priority', node.priority, 1, 254);
  const vrid = int('virtualRouterId', vrrp.virtualRouterId, 1, 255);
  // VRRPv3 carries the interval in centiseconds on 12 bits: 10 ms .. 40.95 s.
  const advertMs = int('advertIntervalMs', vrrp.advertIntervalMs, 10, 40950);
  if (advertMs % 10 !== 0) internal('advertIntervalMs', advertMs, 'a multiple of 10 ms');
  const preemptDelayMs = int('preemptDelayMs', vrrp.preemptDelayMs, 0, 1_000_000);
  const instance = keepalivedInstanceName(clusterName);

  const lines: string[] = [
    `# Generated by overlay-lb from spec sha256:${hash} cluster ${clusterName} node ${nodeName}.`,
    '# Do not edit: the agent rewrites this file from the spec.',
    '',
    'global_defs {',
    `    router_id ${nodeName}`,
    '    # VRRPv3: sub-second advert_int (VRRPv2 only accepts whole seconds).',
    '    vrrp_version 3',
    '    # Transitions go to the agent through this FIFO, in order; no notify scripts.',
    `    vrrp_notify_fifo ${keepalivedFifoPath(stateDir)}`,
    '    # A master that hears a higher priority sends one more advert before yielding, so that',
    '    # after a healed partition the rightful master surely receives a lower-priority advert',
    '    # and writes MASTER_RX_LOWER_PRI to the FIFO (the agent then re-claims the routes).',
    '    vrrp_higher_prio_send_advert true',
    '    # Fast adverts must survive a saturated CPU (HAProxy at 100%): the VRRP process runs',
    '    # SCHED_RR above every normal process and its memory is locked, so a backup never',
    '    # declares the master dead because either side was starved or swapped out.',
    '    vrrp_rt_priority 50',
    '    vrrp_no_swap',
    '    # The only managed address is the marker on lo: gratuitous ARPs are useless, send one.',
    '    vrrp_min_garp true',
    '    # Scripts (the agent check) never run as root and never from a writable path.',
    '    enable_script_security',
    `    script_user ${KEEPALIVED_SCRIPT_USER.user} ${KEEPALIVED_SCRIPT_USER.group}`,
    '}',
    '',
    '# The agent writes 0 (may be master) or 1 (FAULT) here, event-driven, from HAProxy\'s health.',
    '# weight 0: any non-zero value means FAULT. A missing file is created as 1 (FAULT).',
    `track_file ${KEEPALIVED_TRACK_FILE_NAME} {`,
    `    file "${keepalivedTrackPath(stateDir)}"`,
    '    weight 0',
    '    init_file 1',
    '}',
    '',
    '# Planned switchover (the agent writes it): the value is added to the priority (clamped to',
    '# 1..254); -254 means FAULT. Created as 0 (no preference) when missing, kept otherwise.',
    `track_file ${KEEPALIVED_PRIORITY_FILE_NAME} {`,
    `    file "${keepalivedPriorityPath(stateDir)}"`,
    '    weight 1',
    '    init_file 0',
    '}',
    '',
  ];
  const agentCheck = options.agentCheck ?? true;
  if (agentCheck) {
    lines.push(
      '# A dead agent would leave the track file at 0. The agent touches its heartbeat file every',
      `# second; this check fails when the file is older than ${AGENT_ALIVE_GRACE_MS / 1000} s (or missing), and ${AGENT_CHECK_FALL} failures`,
      '# in a row mean FAULT: a restarted agent has the whole grace to beat again (no HTTP answer',
      `# needed), a dead one is noticed within ${AGENT_DEAD_BOUND_MS / 1000} s. find exits 0 for a fresh file, 1 otherwise.`,
      '# Executed directly (no shell), as root because the run dir is 0700; only a validated path is interpolated.',
      `vrrp_script ${KEEPALIVED_AGENT_SCRIPT_NAME} {`,
      `    script "${KEEPALIVED_FIND} ${keepalivedAlivePath(stateDir)} -mmin +${graceMinutes(AGENT_ALIVE_GRACE_MS)} -exec ${KEEPALIVED_FALSE} {} +"`,
      '    interval 1',
      '    timeout 2',
      `    fall ${AGENT_CHECK_FALL}`,
      '    rise 1',
      '    weight 0',
      '    user root',
      '}',
      '',
    );
  }
  lines.push(
    `vrrp_instance ${instance} {`,
    '    # Every node starts as BACKUP; the highest priority wins the election.',
    '    state BACKUP',
    `    interface ${ifname}`,
    `    virtual_router_id ${vrid}`,
    `    priority ${priority}`,
    `    advert_int ${formatSeconds(advertMs)}`,
  );
  // A single-node cluster has no peer: keepalived 2.2.7 warns about unicast keywords without a
  // peer ("defaulting to multicast", deprecated), which fails `render`'s config check. With no
  // peer there is nobody to advertise to: no unicast keywords.
  if (peers.length > 0) {
    lines.push(`    unicast_src_ip ${src}`, '    unicast_peer {', ...peers.map((p) => `        ${p}`), '    }');
    lines.push('    # Ignore adverts from addresses that are not our peers.', '    check_unicast_src');
  }
  if (!vrrp.preempt) {
    lines.push('    # A recovered higher-priority node stays backup: no failback.', '    nopreempt');
  } else if (preemptDelayMs > 0) {
    lines.push(
      '    # A (re)started higher-priority node waits before taking over, so that its HAProxy has',
      '    # healthy backends first (failback without 503s).',
      `    preempt_delay ${formatSeconds(preemptDelayMs)}`,
    );
  }
  lines.push(
    '    # NEVER the VIP: VRRPv3 needs one keepalived-managed address, and keepalived deletes its',
    '    # managed addresses on backups, where HAProxy could then not bind the VIP. The agent puts',
    '    # the VIP on lo on every node; this marker only shows which node is master.',
    '    virtual_ipaddress {',
    `        ${marker}/32 dev lo`,
    '    }',
    '    track_file {',
    `        ${KEEPALIVED_TRACK_FILE_NAME}`,
    `        ${KEEPALIVED_PRIORITY_FILE_NAME}`,
    '    }',
  );
  if (agentCheck) {
    lines.push('    track_script {', `        ${KEEPALIVED_AGENT_SCRIPT_NAME}`, '    }');
  }
  lines.push('}', '');
  return lines.join('\n');
}

/** The grace in minutes for `find -mmin` (GNU find takes fractions): 10000 ms -> `0.1667` (10.002 s). */
function graceMinutes(ms: number): string {
  return (Math.ceil((ms / 60_000) * 10_000) / 10_000).toFixed(4);
}

/** `100` -> `0.1`, `1000` -> `1`, `1250` -> `1.25`: keepalived's decimal seconds. */
function formatSeconds(ms: number): string {
  const whole = Math.floor(ms / 1000);
  const frac = ms % 1000;
  return frac === 0 ? `${whole}` : `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
}

function internal(what: string, value: unknown, allowed: string): never {
  const shown = typeof value === 'string' ? quoteForMessage(value) : String(value);
  throw new SystemError(
    'INTERNAL',
    `keepalived renderer: ${what} ${shown} is not ${allowed}; the spec layer should have rejected it. Report this bug.`,
    { details: { what } },
  );
}

function safe(what: string, value: string, re: RegExp, allowed: string): string {
  if (typeof value !== 'string' || !re.test(value)) internal(what, value, allowed);
  return value;
}

function ipv4(what: string, value: string): string {
  if (typeof value !== 'string' || parseIpv4(value) === undefined) {
    internal(what, value, 'an IPv4 address');
  }
  return value;
}

function int(what: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) internal(what, value, `an integer in ${min}..${max}`);
  return value;
}

/** Absolute, normalized, no trailing '/', only characters keepalived reads literally (no '#', '!', '$', quotes, spaces). */
function absolutePath(what: string, value: string): string {
  if (typeof value !== 'string' || !/^(\/[A-Za-z0-9._+-]+)+$/.test(value) || posix.normalize(value) !== value) {
    internal(what, value, "an absolute normalized path of letters, digits, '.', '_', '+', '-' and '/'");
  }
  return value;
}
