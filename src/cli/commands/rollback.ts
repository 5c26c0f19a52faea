import { onePositional, parseCommandArgs } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';
import { UserError } from '../../util/errors.js';
import { runClusterRollout } from './rollout.js';

export const rollbackHelp = `Usage: overlay-lb rollback SPEC --cluster [--json] [--endpoint-url URL] [--node-timeout SECONDS]

Returns every node of a cluster made by overlay-lb up to the spec version stored just before the
newest one apply --cluster asked a node to run, the way apply --cluster rolls out: one node at a
time, backups first and the master last, each gated on its published status and doctor's
checks about it, stopping at the
first node that fails. SPEC names the cluster (its provision section: bucket and prefix); its
content is not uploaded. See docs/provisioning.md, "Rolling a spec out".

  --cluster                required: every node, through the release bucket
  --json                   the result as one JSON object on stdout
  --endpoint-url URL       S3 and STS endpoint (the lab: see overlay-lb lab env); default AWS's
  --node-timeout SECONDS   how long one node may take (default 120)
Exit status: 0 every node is back, 1 a node failed (named), 2 bad usage or spec.`;

export async function runRollbackCommand(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('rollback', argv, {
    cluster: { type: 'boolean' }, json: { type: 'boolean' }, 'endpoint-url': { type: 'string' }, 'node-timeout': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(rollbackHelp), EXIT.ok);
  const file = onePositional('rollback', positionals, 'spec');
  if (values.cluster !== true) throw new UserError('CLI_USAGE', 'rollback: --cluster is required (rollback works on every node of a cluster made by overlay-lb up, through its release bucket)');
  return runClusterRollout('rollback', { file, json: values.json === true, endpoint: values['endpoint-url'], nodeTimeout: values['node-timeout'] }, io, signal);
}
