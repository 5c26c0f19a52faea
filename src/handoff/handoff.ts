/**
 * Connection handoff ("daisy chaining", as Katran and Beamer do it): when the VIP route moves
 * from a node that still serves (the origin) to another (the target), every later packet of a
 * connection the origin serves arrives at the target, which has no socket for it and would answer
 * RST. While a handoff is on, the target sends such packets on to the origin through a VXLAN
 * link; the origin has the VIP on lo and answers the client directly. Used by the planned
 * switchover (src/cluster-ops/switchover.ts) and by every takeover from a lower-priority peer
 * that serves, such as a failback (src/handoff/handoff-manager.ts).
 *
 * The link (every node, permanent, set up by the agent at start; `ensureHandoffLink`):
 * - `olbho`: VXLAN VNI 20300, UDP 4789, outer source the node's address, no fixed remote: one
 *   all-zeros FDB entry per peer, so ARP reaches every peer and learning finds the right one.
 * - `169.254.79.<n>/24` on it, n = the node's position in `cluster.nodes` + 1 (same on every
 *   node, no coordination); ARP probes every 100 ms (`neigh.olbho.retrans_time_ms`: a healed
 *   cut is answered at once, not after the default 1 s); rp_filter 0 (the clients' packets
 *   arrive on it while their reverse path is eth0), and `conf.all.rp_filter` 1 (strict) lowered
 *   to 2 (loose), since the kernel applies the larger of the two.
 * - `iptables -I INPUT -p udp --dport 4789 -j OLB-HANDOFF-IN`: only the peers' addresses may send
 *   into the link (RETURN), anything else is dropped: the link delivers packets to the VIP with
 *   any source address, so nobody else may inject into it (the security group should say the
 *   same). Every local destination, because the VXLAN socket takes them all.
 * - `iptables -I INPUT ! -i olbho -d 169.254.79.0/24 -j DROP`: the link addresses (the agents'
 *   peer endpoint, src/handoff/peer-channel.ts) only through the link.
 * Because the receiving end is always there, a node that loses the routes needs to do nothing
 * for its connections to keep working, and nodes need no channel to each other.
 *
 * Target side (`enableHandoff`, temporary):
 * - `iptables -t mangle -A PREROUTING ! -i olbho -d VIP/32 -p tcp ! --syn -m conntrack ! --ctstate ESTABLISHED
 *   -m comment --comment olb-handoff -j MARK --set-mark 0x4f4c`: a non-SYN packet of a connection
 *   this node has not seen both ways (conntrack picks a mid-stream packet up as NEW, a lone RST as
 *   INVALID). Connections accepted here are ESTABLISHED from their SYN-ACK on and stay local.
 *   Not `-m socket --nowildcard`: HAProxy binds the VIP itself (not 0.0.0.0), and the socket match
 *   also matches a listener bound to a specific address, so every packet would look local.
 * - `ip rule add pref 50 fwmark 0x4f4c lookup 20300`, before the `local` table, which moves from
 *   pref 0 to pref 100 meanwhile (a rule cannot come before pref 0); restored afterwards.
 * - table 20300: `default via <origin's link address> dev olbho onlink`; forwarding on the node's
 *   interface (`net.ipv4.conf.<iface>.forwarding=1`, not the global `ip_forward`);
 *   and `-t mangle -A FORWARD -o olbho -m mark --mark 0x4f4c -j MARK --set-mark 0`, because the
 *   VXLAN routes its outer packet with the inner packet's mark (a circular route otherwise).
 * - Why a tunnel and not `via <origin address> onlink`: the nodes sit in different subnets (AZs);
 *   the VPC routes by destination, and the VIP's route now points at the target itself.
 *   (This kernel has no ipip/gre modules; VXLAN, UDP 4789, works here and in a VPC.)
 *
 * - `net.ipv4.tcp_early_demux=0` (restored afterwards): a client port reused for a connection to
 *   the origin would otherwise be handed to this node's TIME_WAIT socket of that 4-tuple before
 *   routing, and stall (test/e2e/failback-reused-port.test.ts).
 * - The MARK rule carries its deadline (`-m time --datestop`, UTC, whole seconds): the kernel
 *   stops handing off within a second after it by itself, so a handoff can outlive the agent that
 *   turned it on (an agent restart does not cut a failback's handoff short, and one that never comes
 *   back leaves nothing that hands off). The agent removes the rest at the deadline
 *   (`disableHandoff`); `setHandoffDeadline` moves the deadline.
 *
 * Every target-side change is recorded in `<runDir>/handoff.json` before it is made, so `disable`
 * removes exactly what `enable` added, also after an agent restart. Commands run as argument vectors.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { runCommand } from '../util/exec.js';
import { SystemError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { systemClock } from '../util/clock.js';
import { nodePaths } from '../util/node-paths.js';
import type { HandoffReason, HandoffRole } from '../agent-api/contract.js';

/** The firewall mark of handed-off packets ("OL"). */
export const HANDOFF_MARK = '0x4f4c';
/** The routing table of handed-off packets. */
export const HANDOFF_TABLE = '20300';
/** The VXLAN link between the nodes. */
export const HANDOFF_DEV = 'olbho';
/** Tag of our iptables rules. */
export const HANDOFF_COMMENT = 'olb-handoff';
/** The filter chain that admits only the peers into the link. */
export const HANDOFF_INPUT_CHAIN = 'OLB-HANDOFF-IN';
const VNI = 20300;
const VXLAN_PORT = 4789;
const RULE_PREF = '50';
const LOCAL_PREF_MOVED = '100';
/** The link's addresses. */
export const HANDOFF_LINK_NET = '169.254.79.0/24';
/** Node positions map to 169.254.79.1-.253. */
export const HANDOFF_MAX_NODES = 253;

/**
 * A node's address on the handoff link: its position in `cluster.nodes` + 1 (null past
 * HANDOFF_MAX_NODES: that node takes part in no handoff).
 */
export function handoffLinkAddress(nodes: readonly { readonly name: string }[], node: string): string | null {
  const i = nodes.findIndex((n) => n.name === node);
  return i < 0 || i >= HANDOFF_MAX_NODES ? null : `169.254.79.${i + 1}`;
}

export interface HandoffLinkOptions {
  /** This node's address (the VXLAN's outer source). */
  readonly localAddress: string;
  /** The interface that carries `localAddress`. */
  readonly iface: string;
  /** This node's address on the link (handoffLinkAddress). */
  readonly linkAddress: string;
  /** The other nodes' addresses: the only senders admitted, and the flood list. */
  readonly peerAddresses: readonly string[];
}

/**
 * Sets up (or repairs) this node's end of the handoff link; idempotent, so the agent runs it at
 * every start and then periodically (a firewall reload must not leave the link open). A link with
 * other parameters (another local address after a spec change) is replaced; peers no longer in the
 * spec are removed from the flood list and the filter.
 * @returns what had to be created or repaired (empty: everything was in place).
 * @throws SystemError SWITCHOVER_HANDOFF when a kernel command fails.
 */
export async function ensureHandoffLink(options: HandoffLinkOptions, ctx: { readonly signal: AbortSignal }): Promise<string[]> {
  const { signal } = ctx;
  const repaired: string[] = [];
  const shown = await runCommand(['ip', '-j', '-d', 'link', 'show', 'dev', HANDOFF_DEV], { signal });
  if (shown.code === 0) {
    const info = (JSON.parse(shown.stdout) as { linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } }[])[0]?.linkinfo;
    const d = info?.info_data ?? {};
    const ours = info?.info_kind === 'vxlan' && d['id'] === VNI && d['local'] === options.localAddress && d['port'] === VXLAN_PORT && d['link'] === options.iface && d['remote'] === undefined;
    if (!ours) await must(['ip', 'link', 'del', HANDOFF_DEV], signal);
  }
  if (shown.code !== 0 || (await runCommand(['ip', 'link', 'show', 'dev', HANDOFF_DEV], { signal })).code !== 0) {
    await must(['ip', 'link', 'add', HANDOFF_DEV, 'type', 'vxlan', 'id', String(VNI), 'local', options.localAddress, 'dstport', String(VXLAN_PORT), 'dev', options.iface], signal);
    repaired.push(`link ${HANDOFF_DEV}`);
  }
  // Only the filter's admitted peers can reach the link: set the filter up before the link.
  const filter = (args: readonly string[]): Promise<{ code: number | null; stderr: string }> => runCommand(['iptables', '-w', '5', ...args], { signal });
  if ((await filter(['-n', '-L', HANDOFF_INPUT_CHAIN])).code !== 0) {
    await must(['iptables', '-w', '5', '-N', HANDOFF_INPUT_CHAIN], signal);
    repaired.push(`chain ${HANDOFF_INPUT_CHAIN}`);
  }
  const wanted = [...options.peerAddresses.map((a) => ['-s', `${a}/32`, '-j', 'RETURN']), ['-j', 'DROP']];
  const have = (await must(['iptables', '-w', '5', '-S', HANDOFF_INPUT_CHAIN], signal)).split('\n').filter((l) => l.startsWith('-A ')).map((l) => l.split(' ').slice(2).join(' '));
  if (JSON.stringify(have) !== JSON.stringify(wanted.map((w) => w.join(' ')))) {
    // Build the new list behind the old one, then drop the old rules: never a moment without the DROP.
    for (const w of wanted) await must(['iptables', '-w', '5', '-A', HANDOFF_INPUT_CHAIN, ...w], signal);
    for (let i = 0; i < have.length; i++) await must(['iptables', '-w', '5', '-D', HANDOFF_INPUT_CHAIN, '1'], signal);
    repaired.push(`${HANDOFF_INPUT_CHAIN} rules`);
  }
  // Any local destination: the kernel's VXLAN socket takes UDP 4789 to every local address (the
  // VIP too), not only to `localAddress`.
  const jump = ['INPUT', '-p', 'udp', '--dport', String(VXLAN_PORT), '-m', 'comment', '--comment', HANDOFF_COMMENT, '-j', HANDOFF_INPUT_CHAIN];
  if ((await filter(['-C', ...jump])).code !== 0) {
    await must(['iptables', '-w', '5', '-I', ...jump], signal);
    repaired.push('INPUT jump for UDP 4789');
  }
  // The link addresses (the agents' peer endpoint listens on ours) only through the link itself.
  const linkOnly = ['INPUT', '!', '-i', HANDOFF_DEV, '-d', HANDOFF_LINK_NET, '-m', 'comment', '--comment', HANDOFF_COMMENT, '-j', 'DROP'];
  if ((await filter(['-C', ...linkOnly])).code !== 0) {
    await must(['iptables', '-w', '5', '-I', ...linkOnly], signal);
    repaired.push(`INPUT drop for ${HANDOFF_LINK_NET} off the link`);
  }

  const addrs = await must(['ip', '-j', 'addr', 'show', 'dev', HANDOFF_DEV], signal);
  const current = ((JSON.parse(addrs) as { addr_info?: { family: string; local: string; prefixlen: number }[] }[])[0]?.addr_info ?? []).filter((a) => a.family === 'inet');
  for (const a of current) if (a.local !== options.linkAddress) await must(['ip', 'addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', HANDOFF_DEV], signal);
  if (!current.some((a) => a.local === options.linkAddress && a.prefixlen === 24)) {
    await must(['ip', 'addr', 'replace', `${options.linkAddress}/24`, 'dev', HANDOFF_DEV], signal);
    repaired.push(`address ${options.linkAddress}/24`);
  }
  // The kernel applies max(conf.all.rp_filter, conf.<dev>.rp_filter): with `all` strict (1) the
  // origin drops every handed-off packet (its source, a client, is routed through eth0, not the
  // link). Loose mode (2) still drops sources with no route at all.
  // https://docs.kernel.org/networking/ip-sysctl.html (rp_filter)
  if (await ensureSysctl(`net/ipv4/conf/${HANDOFF_DEV}/rp_filter`, '0', signal)) repaired.push(`net.ipv4.conf.${HANDOFF_DEV}.rp_filter 0`);
  if ((await readSysctl('net/ipv4/conf/all/rp_filter', signal)) === '1') {
    await writeSysctl('net/ipv4/conf/all/rp_filter', '2', signal);
    repaired.push('net.ipv4.conf.all.rp_filter 1 (strict) -> 2 (loose): strict mode drops handed-off packets');
  }
  // The peers' link addresses are resolved by ARP through the tunnel. While a peer is cut off (an
  // AZ black-hole, a partition) this node keeps asking it, so its entry is mostly INCOMPLETE, and
  // a question sent then waits for the next ARP probe: with the kernel's default of one a second,
  // up to 1 s after the cut heals (measured: test/handoff/peer-channel.test.ts), longer than a
  // peer question's timeout. Probing every 100 ms bounds that wait; it costs at most 10 small
  // broadcasts through the link a second while a peer does not answer.
  if (await ensureSysctl(`net/ipv4/neigh/${HANDOFF_DEV}/retrans_time_ms`, HANDOFF_ARP_RETRANS_MS, signal)) repaired.push(`net.ipv4.neigh.${HANDOFF_DEV}.retrans_time_ms ${HANDOFF_ARP_RETRANS_MS}`);
  const fdb = (await must(['bridge', 'fdb', 'show', 'dev', HANDOFF_DEV], signal)).split('\n')
    .map((l) => /^00:00:00:00:00:00 dst (\S+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
  for (const a of options.peerAddresses) {
    if (fdb.includes(a)) continue;
    await must(['bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', HANDOFF_DEV, 'dst', a], signal);
    repaired.push(`flood entry ${a}`);
  }
  for (const a of fdb) if (!options.peerAddresses.includes(a)) await must(['bridge', 'fdb', 'del', '00:00:00:00:00:00', 'dev', HANDOFF_DEV, 'dst', a], signal);
  const up = await must(['ip', '-j', 'link', 'show', 'dev', HANDOFF_DEV], signal);
  if (!((JSON.parse(up) as { flags?: string[] }[])[0]?.flags ?? []).includes('UP')) {
    await must(['ip', 'link', 'set', HANDOFF_DEV, 'up'], signal);
    repaired.push(`${HANDOFF_DEV} up`);
  }
  return repaired;
}

/** How often ARP probes a peer's link address that does not answer (ms; the kernel's default is 1000). */
export const HANDOFF_ARP_RETRANS_MS = '100';

/**
 * A sysctl's value, `key` as a path under /proc/sys (no `sysctl` process; and an interface name
 * with a dot, e.g. a VLAN's `eth0.100`, stays one path segment, which `sysctl`'s dotted names split).
 */
async function readSysctl(key: string, signal: AbortSignal): Promise<string> {
  try {
    return (await readFile(`/proc/sys/${key}`, { encoding: 'utf8', signal })).trim();
  } catch (err) {
    if (signal.aborted) throw err;
    throw new SystemError('SWITCHOVER_HANDOFF', `could not read ${key.replaceAll('/', '.')}`, { cause: err });
  }
}

/** Sets a sysctl, `key` as a path under /proc/sys. */
async function writeSysctl(key: string, value: string, signal: AbortSignal): Promise<void> {
  try {
    await writeFile(`/proc/sys/${key}`, value, { signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new SystemError('SWITCHOVER_HANDOFF', `could not set ${key.replaceAll('/', '.')} to ${value}`, { cause: err });
  }
}

/** Sets a sysctl when it differs; returns whether it did. */
async function ensureSysctl(key: string, value: string, signal: AbortSignal): Promise<boolean> {
  if ((await readSysctl(key, signal)) === value) return false;
  await writeSysctl(key, value, signal);
  return true;
}

/** One definition with the agent's wire contract (`/status` shows it). */
export type { HandoffReason, HandoffRole } from '../agent-api/contract.js';

export interface HandoffOptions {
  /** `target`: hand unknown connections to the peer; `origin`: recorded for status only (the link is permanent). */
  readonly role: HandoffRole;
  readonly vip: string;
  readonly peer: string;
  /** The peer's node address (status). */
  readonly peerAddress: string;
  /** The peer's address on the handoff link. */
  readonly peerLinkAddress: string;
  /** This node's interface: the handed-off packets come in on it (its forwarding is turned on). */
  readonly iface: string;
  /** What turned it on. */
  readonly reason: HandoffReason;
  /** When the handoff ends (epoch ms); the kernel stops within a second after it (the MARK rule's `--datestop`). */
  readonly until: number;
}

/** What `enable` changed, as recorded in handoff.json. */
export interface HandoffRecord extends HandoffOptions {
  readonly since: number;
  readonly iptables: readonly (readonly string[])[];
  readonly rule: boolean;
  readonly localMoved: boolean;
  /** `net.ipv4.conf.<iface>.forwarding` before, when we changed it. */
  readonly forwardingBefore: string | null;
  /** `net.ipv4.tcp_early_demux` before, when we changed it. */
  readonly earlyDemuxBefore?: string | null;
}

/** The record file of a run dir. */
export function handoffRecordPath(runDir: string): string {
  return nodePaths(runDir).handoffRecord;
}

/** The handoff in force on this node (null: none). */
export async function readHandoff(runDir: string): Promise<HandoffRecord | null> {
  const text = await readFile(handoffRecordPath(runDir), 'utf8').catch(() => null);
  return text === null ? null : (JSON.parse(text) as HandoffRecord);
}

/**
 * Turns the handoff on (idempotent: an existing handoff is removed first). The link must be up
 * (`ensureHandoffLink`).
 * @throws SystemError SWITCHOVER_HANDOFF when a kernel command fails (what was added is removed).
 */
export async function enableHandoff(runDir: string, options: HandoffOptions, ctx: { readonly signal: AbortSignal }): Promise<HandoffRecord> {
  const { signal } = ctx;
  await disableHandoff(runDir, ctx);
  let record: HandoffRecord = { ...options, since: systemClock.now(), iptables: [], rule: false, localMoved: false, forwardingBefore: null };
  const save = async (next: HandoffRecord): Promise<void> => {
    record = next;
    await writeRecord(runDir, record, signal);
  };
  try {
    await save(record);
    if (options.role === 'origin') return record;

    await must(['ip', 'route', 'replace', 'default', 'via', options.peerLinkAddress, 'dev', HANDOFF_DEV, 'onlink', 'table', HANDOFF_TABLE], signal);
    // Forwarding on the ingress interface only: IPv4 checks the input device's `forwarding`.
    // Not `net.ipv4.ip_forward`: writing it also resets `accept_redirects` and every device's
    // `forwarding` (kernel inet_forward_change), which restoring it would not undo.
    const forwarding = `net/ipv4/conf/${options.iface}/forwarding`;
    const fwd = await readSysctl(forwarding, signal);
    if (fwd !== '1') {
      await save({ ...record, forwardingBefore: fwd });
      await writeSysctl(forwarding, '1', signal);
    }
    // TCP early demux hands a packet to a local socket of its 4-tuple before routing, TIME_WAIT
    // sockets included, and ip_forward drops a packet that has a socket: a client port reused for
    // a connection to the origin would stall here. Off while the handoff is on (it only saves a
    // route lookup per packet).
    const demux = await readSysctl('net/ipv4/tcp_early_demux', signal);
    if (demux !== '0') {
      await save({ ...record, earlyDemuxBefore: demux });
      await writeSysctl('net/ipv4/tcp_early_demux', '0', signal);
    }
    // The local table moves behind our rule: add it at 100 first, so it is never missing.
    await save({ ...record, localMoved: true, rule: true });
    if (!(await localRulePrefs(signal)).includes(LOCAL_PREF_MOVED)) await must(['ip', 'rule', 'add', 'pref', LOCAL_PREF_MOVED, 'lookup', 'local'], signal);
    await must(['ip', 'rule', 'add', 'pref', RULE_PREF, 'fwmark', HANDOFF_MARK, 'lookup', HANDOFF_TABLE], signal);
    if ((await localRulePrefs(signal)).includes('0')) await must(['ip', 'rule', 'del', 'pref', '0', 'lookup', 'local'], signal);
    const spec = markRule(options.vip, options.until);
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
 * The link stays (it is permanent).
 * @returns whether a handoff was recorded.
 */
export async function disableHandoff(runDir: string, ctx: { readonly signal: AbortSignal }): Promise<boolean> {
  const { signal } = ctx;
  const record = await readHandoff(runDir);
  if (record === null) return false;
  const problems: string[] = [];
  const attempt = async (argv: readonly string[]): Promise<void> => {
    const r = await runCommand(argv, { signal });
    if (r.code !== 0) problems.push(`${argv.join(' ')}: ${r.stderr.trim()}`);
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
  const restore = async (key: string, value: string): Promise<void> => {
    await writeSysctl(key, value, signal).catch((err: unknown) => {
      if (signal.aborted) throw err;
      problems.push(err instanceof Error ? err.message : String(err));
    });
  };
  if (record.forwardingBefore !== null) await restore(`net/ipv4/conf/${record.iface}/forwarding`, record.forwardingBefore);
  if (record.earlyDemuxBefore != null) await restore('net/ipv4/tcp_early_demux', record.earlyDemuxBefore);
  if (problems.length > 0) {
    throw new SystemError('SWITCHOVER_HANDOFF', `could not remove every handoff change (record kept in ${handoffRecordPath(runDir)}; retry, or remove by hand): ${problems.join('; ')}`);
  }
  await rm(handoffRecordPath(runDir), { force: true });
  return true;
}

/**
 * Moves the deadline of the handoff in force (later or earlier): the target's MARK rule is
 * replaced by one with the new `--datestop` (added before the old one is deleted, so the handoff
 * never pauses; the record lists both meanwhile).
 * @returns the updated record (null: no handoff is on).
 * @throws SystemError SWITCHOVER_HANDOFF when a kernel command fails (the old deadline stays).
 */
export async function setHandoffDeadline(runDir: string, until: number, ctx: { readonly signal: AbortSignal }): Promise<HandoffRecord | null> {
  const { signal } = ctx;
  const record = await readHandoff(runDir);
  if (record === null) return null;
  const old = record.iptables.find((r) => r[0] === 'PREROUTING');
  const next = markRule(record.vip, until);
  if (old === undefined || JSON.stringify(old) === JSON.stringify(next)) {
    const updated = { ...record, until };
    await writeRecord(runDir, updated, signal);
    return updated;
  }
  await writeRecord(runDir, { ...record, iptables: [...record.iptables, next] }, signal);
  await must(['iptables', '-w', '5', '-t', 'mangle', '-A', ...next], signal);
  if ((await runCommand(['iptables', '-w', '5', '-t', 'mangle', '-C', ...old], { signal })).code === 0) await must(['iptables', '-w', '5', '-t', 'mangle', '-D', ...old], signal);
  const updated = { ...record, until, iptables: record.iptables.map((r) => (r === old ? next : r)) };
  await writeRecord(runDir, updated, signal);
  return updated;
}

/**
 * The target's MARK rule, ending at `until`. Never what came in over the link: two nodes handing
 * off towards each other at once (an abandoned switchover and a failback) would bounce a stray
 * packet between them.
 */
function markRule(vip: string, until: number): string[] {
  // xt_time compares the kernel's UTC clock (no --kerneltz) in whole seconds, and matches through
  // the whole second of --datestop: the kernel stops within a second after `until`.
  const stop = new Date(Math.floor(until / 1000) * 1000).toISOString().slice(0, 19);
  return ['PREROUTING', '!', '-i', HANDOFF_DEV, '-d', `${vip}/32`, '-p', 'tcp', '!', '--syn', '-m', 'conntrack', '!', '--ctstate', 'ESTABLISHED',
    '-m', 'time', '--datestop', stop, '-m', 'comment', '--comment', HANDOFF_COMMENT, '-j', 'MARK', '--set-mark', HANDOFF_MARK];
}

async function writeRecord(runDir: string, record: HandoffRecord, signal: AbortSignal): Promise<void> {
  await writeFileAtomic(handoffRecordPath(runDir), `${JSON.stringify(record, null, 2)}\n`, { signal, mode: 0o600 });
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
