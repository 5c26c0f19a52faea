import { loadSpecFile } from '../../ops/load-spec.js';
import { collectClusterStatus, formatClusterStatus } from '../../cluster-ops/cluster-status.js';
import { UserError } from '../../util/errors.js';
import { ensureWritableDirectory } from '../../ops/paths.js';
import { onePositional, parseCommandArgs } from '../args.js';
import { clusterStatusFromBucket, type BucketNodeStatus } from '../../provision/rollout.js';
import { checkEndpoint } from './rollout.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';
import { resolveEndpoints } from './switchover.js';

export const statusHelp = `Usage: overlay-lb status --spec FILE (--run-dir-template T | --lab-prefix P [--lab-state-dir D]) [--json]
       overlay-lb status SPEC --cluster [--json] [--endpoint-url URL]

Asks every node's agent (its control socket) and prints one table: which node is VRRP master,
which node every route table points at (read from the cloud API now), each node's health, priority
adjustment, spec and config hash and last claim results, then what is wrong. Exit status 1 when
something is wrong.

  --spec FILE              the cluster's spec
  --run-dir-template T     every node's agent run dir, {node} = node name
  --lab-prefix P           the lab's run dirs (<state dir>/<P>lab/nodes/<node>)
  --lab-state-dir D        the lab's state dir (default /run/overlay-lb-lab)
  --json                   the report as JSON

With --cluster (a cluster made by overlay-lb up), from an operator's machine with no route to
the nodes: reads the status every agent publishes in the release bucket and prints each node's
spec version (and the one it is asked to run), VRRP state, health and problems; a status older
than three of its intervals is flagged stale (the agent is stopped or cannot reach S3). Exit
status 1 when a node is stale, missing, unhealthy, off its version or reports a problem.

  --cluster                read the nodes' published status from the release bucket
  --endpoint-url URL       S3 and STS endpoint (the lab: see overlay-lb lab env); default AWS's`;

export async function runStatusCommand(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('status', argv, {
    spec: { type: 'string' },
    cluster: { type: 'boolean' },
    'endpoint-url': { type: 'string' },
    'run-dir-template': { type: 'string' },
    'lab-prefix': { type: 'string' },
    'lab-state-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(statusHelp), EXIT.ok);
  if (values.cluster === true) {
    if (values['run-dir-template'] !== undefined || values['lab-prefix'] !== undefined || values['lab-state-dir'] !== undefined) throw new UserError('CLI_USAGE', 'status: --cluster reads the release bucket; --run-dir-template, --lab-prefix and --lab-state-dir ask the agents on this machine: give one or the other');
    if (values.spec !== undefined && positionals.length > 0) throw new UserError('CLI_USAGE', 'status: give the spec once, as SPEC or --spec FILE');
    const file = values.spec ?? onePositional('status', positionals, 'spec');
    const endpoint = checkEndpoint('status', values['endpoint-url']);
    const report = await clusterStatusFromBucket({ specFile: file, signal, ...(endpoint === undefined ? {} : { endpoint }) });
    io.out(values.json ? JSON.stringify(report, null, 2) : formatBucketStatus(report.cluster, report.nodes));
    return report.nodes.every((n) => n.problems.length === 0) ? EXIT.ok : EXIT.failure;
  }
  if (positionals.length > 0 || values['endpoint-url'] !== undefined) throw new UserError('CLI_USAGE', 'status: a positional SPEC and --endpoint-url go with --cluster; without it give --spec FILE');
  if (values.spec === undefined) throw new UserError('CLI_USAGE', 'status: --spec FILE is required');
  if (values['lab-state-dir'] !== undefined) await ensureWritableDirectory(values['lab-state-dir'], { what: 'status: --lab-state-dir', missing: 'allow', signal });
  const { spec } = await loadSpecFile(values.spec, { signal });
  const report = await collectClusterStatus(spec, resolveEndpoints('status', spec, values), { signal });
  io.out(values.json ? JSON.stringify(report, null, 2) : formatClusterStatus(report));
  return report.problems.length === 0 ? EXIT.ok : EXIT.failure;
}

/** One line per node, then what is wrong. */
function formatBucketStatus(cluster: string, nodes: readonly BucketNodeStatus[]): string {
  const short = (v: string | null): string => (v === null ? '-' : v.length > 16 ? `${v.slice(0, 16)}…` : v);
  const rows = [['NODE', 'SPEC VERSION', 'DESIRED', 'VRRP', 'HEALTHY', 'AGE', 'STALE']];
  for (const n of nodes) {
    const p = n.published;
    rows.push([n.node, short(p?.specVersion ?? null), short(n.desiredVersion), p?.status.vrrp.vrrp ?? '-', p === null ? '-' : p.status.haproxy.healthy ? 'yes' : 'no', n.ageMs === null ? '-' : `${Math.round(n.ageMs / 1000)}s`, n.stale ? 'STALE' : '']);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const lines = [`cluster ${cluster} (from the release bucket)`, ...rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd())];
  const wrong = nodes.flatMap((n) => n.problems.map((p) => `  ${n.node}: ${p}`));
  lines.push(wrong.length === 0 ? 'nothing wrong' : 'wrong:', ...wrong);
  return lines.join('\n');
}
