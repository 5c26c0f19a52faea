/**
 * Connection handoff for a planned switchover ("daisy chaining", as Katran and Beamer do it).
 *
 * When the VIP route flips to the target node, every later packet of a connection the old node
 * (the origin) still serves arrives at the target, which has no socket for it and would answer
 * RST. While a handoff is on, the target sends such packets on to the origin through a
 * point-to-point VXLAN link; the origin has the VIP on lo and answers the client directly.
 *
 * Target side (role `target`):
 * - `iptables -t mangle -A PREROUTING -d VIP/32 -p tcp ! --syn -m conntrack ! --ctstate ESTABLISHED
 *   -m comment --comment olb-handoff -j MARK --set-mark 0x4f4c`: a non-SYN packet of a connection
 *   this node has not seen both ways (conntrack picks a mid-stream packet up as NEW, a lone RST as
 *   INVALID). Connections accepted here are ESTABLISHED from their SYN-ACK on and stay local.
 *   Not `-m socket --nowildcard`: HAProxy binds the VIP itself (not 0.0.0.0), and the socket match
 *   also matches a listener bound to a specific address, so every packet would look local.
 * - `ip rule add pref 50 fwmark 0x4f4c lookup 20300`, before the `local` table, which moves from
 *   pref 0 to pref 100 meanwhile (a rule cannot come before pref 0); restored afterwards.
 * - table 20300: `default via 169.254.79.2 dev olbho onlink`; `net.ipv4.ip_forward=1`; and
 *   `-t mangle -A FORWARD -o olbho -m mark --mark 0x4f4c -j MARK --set-mark 0`, because the VXLAN
 *   routes its outer packet with the inner packet's mark (a circular route otherwise).
 * - Why a tunnel and not `via <origin address> onlink`: the nodes sit in different subnets (AZs);
 *   the VPC routes by destination, and the VIP's route now points at the target itself.
 *   (This kernel has no ipip/gre modules; VXLAN, UDP 4789, works here and in a VPC.)
 *
 * Origin side (role `origin`): the VXLAN link with 169.254.79.2/30 and rp_filter 0 on it (the
 * clients' packets arrive on it while their reverse path is eth0).
 *
 * Every change is recorded in `<runDir>/handoff.json` before it is made, so `disable` removes
 * exactly what `enable` added, also after an agent restart. Commands run as argument vectors.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../util/exec.js';
import { SystemError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/** The firewall mark of handed-off packets ("OL"). */
export const HANDOFF_MARK = '0x4f4c';
/** The routing table of handed-off packets. */
export const HANDOFF_TABLE = '20300';
/** The VXLAN link between the two nodes. */
export const HANDOFF_DEV = 'olbho';
/** Tag of our iptables rules. */
export const HANDOFF_COMMENT = 'olb-handoff';
const VNI = '20300';
const VXLAN_PORT = '4789';
const LINK_ADDR = { target: '169.254.79.1', origin: '169.254.79.2' } as const;
const RULE_PREF = '50';
const LOCAL_PREF_MOVED = '100';

export type HandoffRole = 'target' | 'origin';

export interface HandoffOptions {
  readonly role: HandoffRole;
  readonly vip: string;
  /** This node's address (the VXLAN's outer source). */
  readonly localAddress: string;
  /** The other node's address. */
  readonly peerAddress: string;
  /** The interface that carries `localAddress`. */
  readonly iface: string;
}

/** What `enable` changed, as recorded in handoff.json. */
export interface HandoffRecord extends HandoffOptions {
  readonly since: number;
  readonly link: boolean;
  readonly iptables: readonly (readonly string[])[];
  readonly rule: boolean;
  readonly localMoved: boolean;
  /** ip_forward before, when we changed it. */
  readonly ipForwardBefore: string | null;
}

/** The record file of a run dir. */
export function handoffRecordPath(runDir: string): string {
  return join(runDir, 'handoff.json');
}

/** The handoff in force on this node (null: none). */
export async function readHandoff(runDir: string): Promise<HandoffRecord | null> {
  const text = await readFile(handoffRecordPath(runDir), 'utf8').catch(() => null);
  return text === null ? null : (JSON.parse(text) as HandoffRecord);
}

/**
 * Turns the handoff on (idempotent: an existing handoff is removed first).
 * @throws SystemError SWITCHOVER_HANDOFF when a kernel command fails (what was added is removed).
 */
export async function enableHandoff(runDir: string, options: HandoffOptions, ctx: { readonly signal: AbortSignal }): Promise<HandoffRecord> {
  const { signal } = ctx;
  await disableHandoff(runDir, ctx);
  let record: HandoffRecord = { ...options, since: Date.now(), link: false, iptables: [], rule: false, localMoved: false, ipForwardBefore: null };
  const save = async (next: HandoffRecord): Promise<void> => {
    record = next;
    await writeFileAtomic(handoffRecordPath(runDir), `${JSON.stringify(record, null, 2)}\n`, { signal, mode: 0o600 });
  };
  try {
    await save({ ...record, link: true });
    await must(['ip', 'link', 'add', HANDOFF_DEV, 'type', 'vxlan', 'id', VNI, 'local', options.localAddress, 'remote', options.peerAddress, 'dstport', VXLAN_PORT, 'dev', options.iface], signal);
    await must(['ip', 'addr', 'add', `${LINK_ADDR[options.role]}/30`, 'dev', HANDOFF_DEV], signal);
    await must(['sysctl', '-q', '-w', `net.ipv4.conf.${HANDOFF_DEV}.rp_filter=0`], signal);
    await must(['ip', 'link', 'set', HANDOFF_DEV, 'up'], signal);
    if (options.role === 'origin') return record;

    await must(['ip', 'route', 'replace', 'default', 'via', LINK_ADDR.origin, 'dev', HANDOFF_DEV, 'onlink', 'table', HANDOFF_TABLE], signal);
    const fwd = (await must(['sysctl', '-n', 'net.ipv4.ip_forward'], signal)).trim();
    if (fwd !== '1') {
      await save({ ...record, ipForwardBefore: fwd });
      await must(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], signal);
    }
    // The local table moves behind our rule: add it at 100 first, so it is never missing.
    await save({ ...record, localMoved: true, rule: true });
    if (!(await localRulePrefs(signal)).includes(LOCAL_PREF_MOVED)) await must(['ip', 'rule', 'add', 'pref', LOCAL_PREF_MOVED, 'lookup', 'local'], signal);
    await must(['ip', 'rule', 'add', 'pref', RULE_PREF, 'fwmark', HANDOFF_MARK, 'lookup', HANDOFF_TABLE], signal);
    if ((await localRulePrefs(signal)).includes('0')) await must(['ip', 'rule', 'del', 'pref', '0', 'lookup', 'local'], signal);
    const spec = ['PREROUTING', '-d', `${options.vip}/32`, '-p', 'tcp', '!', '--syn', '-m', 'conntrack', '!', '--ctstate', 'ESTABLISHED',
      '-m', 'comment', '--comment', HANDOFF_COMMENT, '-j', 'MARK', '--set-mark', HANDOFF_MARK];
    // The VXLAN's outer route lookup uses the inner packet's mark (vxlan_get_route: flowi4_mark =
    // skb->mark): with our mark it finds table 20300 again, a circular route (counted as TX
    // errors/"collisions" on the link). Clear the mark once the packet is routed to the link.
    const unmark = ['FORWARD', '-o', HANDOFF_DEV, '-m', 'mark', '--mark', HANDOFF_MARK, '-m', 'comment', '--comment', HANDOFF_COMMENT, '-j', 'MARK', '--set-mark', '0'];
    await save({ ...record, iptables: [spec, unmark] });
    await must(['iptables', '-w', '5', '-t', 'mangle', '-A', ...unmark], signal);
    await must(['iptables', '-w', '5', '-t', 'mangle', '-A', ...spec], signal);
    return record;
  } catch (err) {
    await disableHandoff(runDir, { signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
    throw err;
  }
}

/**
 * Removes what the recorded handoff added, in reverse order; tolerant of parts already gone.
 * @returns whether a handoff was recorded.
 */
export async function disableHandoff(runDir: string, ctx: { readonly signal: AbortSignal }): Promise<boolean> {
  const { signal } = ctx;
  const record = await readHandoff(runDir);
  if (record === null) return false;
  const problems: string[] = [];
  const attempt = async (argv: readonly string[], ok: (r: { code: number | null; stderr: string }) => boolean = (r) => r.code === 0): Promise<void> => {
    const r = await runCommand(argv, { signal });
    if (!ok(r)) problems.push(`${argv.join(' ')}: ${r.stderr.trim()}`);
  };
  for (const spec of record.iptables) {
    // -C first: a rule removed by hand is no error.
    const present = await runCommand(['iptables', '-w', '5', '-t', 'mangle', '-C', ...spec], { signal });
    if (present.code === 0) await attempt(['iptables', '-w', '5', '-t', 'mangle', '-D', ...spec]);
  }
  if (record.rule) {
    const rules = await must(['ip', 'rule', 'show'], signal);
    if (rules.split('\n').some((l) => l.startsWith(`${RULE_PREF}:`) && l.includes(`lookup ${HANDOFF_TABLE}`))) {
      await attempt(['ip', 'rule', 'del', 'pref', RULE_PREF, 'fwmark', HANDOFF_MARK, 'lookup', HANDOFF_TABLE]);
    }
  }
  if (record.localMoved) {
    const prefs = await localRulePrefs(signal);
    if (!prefs.includes('0')) await attempt(['ip', 'rule', 'add', 'pref', '0', 'lookup', 'local']);
    if (prefs.includes(LOCAL_PREF_MOVED)) await attempt(['ip', 'rule', 'del', 'pref', LOCAL_PREF_MOVED, 'lookup', 'local']);
  }
  if (record.role === 'target') await runCommand(['ip', 'route', 'flush', 'table', HANDOFF_TABLE], { signal });
  if (record.ipForwardBefore !== null) await attempt(['sysctl', '-q', '-w', `net.ipv4.ip_forward=${record.ipForwardBefore}`]);
  if (record.link) await attempt(['ip', 'link', 'del', HANDOFF_DEV], (r) => r.code === 0 || /Cannot find device/.test(r.stderr));
  if (problems.length > 0) {
    throw new SystemError('SWITCHOVER_HANDOFF', `could not remove every handoff change (record kept in ${handoffRecordPath(runDir)}; retry, or remove by hand): ${problems.join('; ')}`);
  }
  await rm(handoffRecordPath(runDir), { force: true });
  return true;
}

async function localRulePrefs(signal: AbortSignal): Promise<string[]> {
  const out = await must(['ip', 'rule', 'show'], signal);
  return out.split('\n').filter((l) => /lookup local\b/.test(l)).map((l) => l.split(':')[0] ?? '');
}

async function must(argv: readonly string[], signal: AbortSignal): Promise<string> {
  const r = await runCommand(argv, { signal });
  if (r.code !== 0) throw new SystemError('SWITCHOVER_HANDOFF', `${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}
