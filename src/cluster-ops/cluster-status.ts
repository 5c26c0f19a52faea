import type { Spec } from '../model/spec.js';
import { agentCall } from './agent-client.js';
import type { AgentEndpoint } from './agent-client.js';
import type { AgentStatus } from '../agent-api/contract.js';

/** One node as `overlay-lb status` sees it. */
export interface NodeReport {
  readonly node: string;
  /** null when its agent did not answer. */
  readonly status: AgentStatus | null;
  readonly error: string | null;
}

/** The whole cluster: nodes, where every owned table points now, and what is wrong. */
export interface ClusterReport {
  readonly cluster: string;
  readonly nodes: readonly NodeReport[];
  readonly masters: readonly string[];
  /** Route table (or EIP) -> node holding it (a cluster node's name, `other:<target>`, or `none`). Empty when no agent could look. */
  readonly resources: readonly { readonly id: string; readonly holder: string }[];
  readonly problems: readonly string[];
}

/**
 * Asks every node's agent for its status (and one of them, the master when there is one, for a
 * fresh view of every owned route table), and lists what is wrong: not exactly one master, a table
 * not on the master, a failed last claim, a contest, a node unreachable or unhealthy, nodes on
 * different specs. Never throws for an unreachable node: that is a problem line.
 */
export async function collectClusterStatus(spec: Spec, endpoints: readonly AgentEndpoint[], options: { readonly signal: AbortSignal }): Promise<ClusterReport> {
  const nodes: NodeReport[] = [];
  for (const ep of endpoints) {
    try {
      nodes.push({ node: ep.node, status: await agentCall(ep, 'GET /status', undefined, { signal: options.signal, timeoutMs: 5000 }), error: null });
    } catch (err) {
      nodes.push({ node: ep.node, status: null, error: (err as Error).message });
    }
  }
  const problems: string[] = [];
  const up = nodes.filter((n): n is NodeReport & { status: AgentStatus } => n.status !== null);
  for (const n of nodes) if (n.status === null) problems.push(`${n.node}: agent unreachable (${n.error ?? ''})`);
  const masters = up.filter((n) => n.status.vrrp.vrrp === 'MASTER').map((n) => n.node);
  if (masters.length === 0) problems.push('no node is VRRP master');
  if (masters.length > 1) problems.push(`${masters.length} masters: ${masters.join(', ')} (a partition, or VRRP blocked between the nodes)`);
  for (const n of up) {
    if (!n.status.haproxy.healthy) problems.push(`${n.node}: HAProxy unhealthy (health URI fails)`);
    if (!n.status.keepalived.alive) problems.push(`${n.node}: keepalived not running`);
    const h = n.status.switchover?.handoff;
    // A failback's handoff is normal for its 40 s; a switchover's means one is running or was abandoned.
    if (h && h.reason !== 'takeover') problems.push(`${n.node}: switchover handoff still on (${h.role}); a switchover is running or was abandoned`);
    if (n.status.vrrp.heartbeatFailing === true) problems.push(`${n.node}: cannot write its heartbeat tag (ec2:CreateTags on its ENI, see docs/install.md): under a partition the routes would change hands every three re-check periods`);
    if (n.status.vrrp.contests > 0) problems.push(`${n.node}: ${n.status.vrrp.contests} contest(s) seen (another master held a route)`);
  }
  // Only the spec hash must agree: each node's haproxy.cfg differs by design (its own address in
  // `bind node` listeners and health checks), so the config hash is shown, not compared.
  const specs = new Set(up.map((n) => n.status.specHash));
  if (specs.size > 1) problems.push(`nodes run different specs: ${up.map((n) => `${n.node}=${short(n.status.specHash)}`).join(', ')} (a spec change not rolled out everywhere)`);
  const master = masters.length === 1 ? up.find((n) => n.node === masters[0]) : undefined;
  for (const r of master?.status.vrrp.resources ?? []) {
    if (r.lastClaim?.kind === 'failed') problems.push(`${master?.node ?? ''}: last claim of ${r.id} failed: ${r.lastClaim.reason ?? ''}`);
  }
  let resources: { id: string; holder: string }[] = [];
  const looker = master ?? up[0];
  if (looker !== undefined) {
    const ep = endpoints.find((e) => e.node === looker.node) as AgentEndpoint;
    try {
      const views = await agentCall(ep, 'GET /routes', undefined, { signal: options.signal, timeoutMs: 15_000 });
      resources = views.resources.map((v) => ({ id: v.id, holder: v.holder.kind === 'us' ? looker.node : v.holder.kind === 'peer' ? (v.holder.node ?? '?') : v.holder.kind === 'other' ? `other:${v.holder.target ?? '?'}` : 'none' }));
    } catch (err) {
      problems.push(`${looker.node}: could not read the route tables: ${(err as Error).message}`);
    }
  }
  if (masters.length === 1) {
    for (const r of resources) if (r.holder !== masters[0]) problems.push(`${r.id} points at ${r.holder}, not at the master ${masters[0] ?? ''}`);
  }
  return { cluster: spec.cluster.name, nodes, masters, resources, problems };
}

/** The report as a table. */
export function formatClusterStatus(report: ClusterReport): string {
  const rows: string[][] = [['NODE', 'VRRP', 'HEALTHY', 'PRIO+', 'SPEC', 'CONFIG', 'LAST CLAIMS']];
  for (const n of report.nodes) {
    const s = n.status;
    if (s === null) {
      rows.push([n.node, 'UNREACHABLE', '-', '-', '-', '-', '-']);
      continue;
    }
    const claims = s.vrrp.resources.filter((r) => r.lastClaim !== null).map((r) => r.lastClaim?.kind ?? '');
    const summary = claims.length === 0 ? '-' : [...new Set(claims)].map((k) => `${claims.filter((c) => c === k).length} ${k}`).join(', ');
    rows.push([n.node, s.vrrp.vrrp, s.haproxy.healthy ? 'yes' : 'NO', String(s.switchover?.priorityAdjust ?? '-'), short(s.specHash), short(s.configHash), summary]);
  }
  const lines = [`cluster ${report.cluster}`, ...table(rows), ''];
  lines.push(...table([['ROUTE TABLE', 'POINTS AT'], ...report.resources.map((r) => [r.id, r.holder])]), '');
  lines.push(report.problems.length === 0 ? 'OK: one master, every table on it, same spec and config everywhere' : `PROBLEMS (${report.problems.length}):`);
  for (const p of report.problems) lines.push(`  - ${p}`);
  return lines.join('\n');
}

function short(hash: string | null | undefined): string {
  return hash === null || hash === undefined ? '-' : hash.slice(0, 12);
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
}
