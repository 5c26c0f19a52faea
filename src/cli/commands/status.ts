import { loadSpecFile } from '../../ops/load-spec.js';
import { collectClusterStatus, formatClusterStatus } from '../../switchover/cluster-status.js';
import { UserError } from '../../util/errors.js';
import { ensureWritableDirectory } from '../../ops/paths.js';
import { parseCommandArgs } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';
import { resolveEndpoints } from './switchover.js';

export const statusHelp = `Usage: overlay-lb status --spec FILE (--run-dir-template T | --lab-prefix P [--lab-state-dir D]) [--json]

Asks every node's agent (its control socket) and prints one table: which node is VRRP master,
which node every route table points at (read from the cloud API now), each node's health, priority
adjustment, spec and config hash and last claim results, then what is wrong. Exit status 1 when
something is wrong.

  --spec FILE              the cluster's spec
  --run-dir-template T     every node's agent run dir, {node} = node name
  --lab-prefix P           the lab's run dirs (<state dir>/<P>lab/nodes/<node>)
  --lab-state-dir D        the lab's state dir (default /run/overlay-lb-lab)
  --json                   the report as JSON`;

export async function runStatusCommand(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('status', argv, {
    spec: { type: 'string' },
    'run-dir-template': { type: 'string' },
    'lab-prefix': { type: 'string' },
    'lab-state-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(statusHelp), EXIT.ok);
  if (values.spec === undefined) throw new UserError('CLI_USAGE', 'status: --spec FILE is required');
  if (values['lab-state-dir'] !== undefined) await ensureWritableDirectory(values['lab-state-dir'], { what: 'status: --lab-state-dir', missing: 'allow', signal });
  const { spec } = await loadSpecFile(values.spec, { signal });
  const report = await collectClusterStatus(spec, resolveEndpoints('status', spec, values), { signal });
  io.out(values.json ? JSON.stringify(report, null, 2) : formatClusterStatus(report));
  return report.problems.length === 0 ? EXIT.ok : EXIT.failure;
}
