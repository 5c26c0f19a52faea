import { loadSpecFile } from '../../ops/load-spec.js';
import { labFiles } from '../../lab/controller.js';
import { labStateFile, nodeRunDir } from '../../lab/lab.js';
import { endpointsFromTemplate } from '../../cluster-ops/agent-client.js';
import type { AgentEndpoint } from '../../cluster-ops/agent-client.js';
import { runSwitchover } from '../../cluster-ops/switchover.js';
import type { Spec } from '../../model/spec.js';
import { UserError } from '../../util/errors.js';
import { ensureWritableDirectory } from '../../ops/paths.js';
import { parseCommandArgs } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';

export const switchoverHelp = `Usage: overlay-lb switchover --spec FILE --to NODE (--run-dir-template T | --lab-prefix P [--lab-state-dir D])
                           [--drain-timeout SECONDS] [--json]

Moves the VIP to NODE without failing a request: NODE hands packets of connections it does not
know back to the current master, claims every route table, the old master drains its connections
(HAProxy reload), VRRP follows (NODE becomes the preferred node: it stays master until the next
switchover; failback after a reboot goes to it), then the handoff is removed. See docs/switchover.md.

  --spec FILE              the cluster's spec
  --to NODE                the node to move to
  --run-dir-template T     every node's agent run dir, {node} = node name (e.g. /run/overlay-lb);
                           the agents' control sockets (<run dir>/agent.sock) must be reachable
                           from here: the lab, or one machine (see docs/switchover.md for SSH)
  --lab-prefix P           the lab's run dirs (<state dir>/<P>lab/nodes/<node>)
  --lab-state-dir D        the lab's state dir (default /run/overlay-lb-lab)
  --drain-timeout SECONDS  longest wait for the old master's connections to end (default 15)
  --json                   the report as JSON`;

/** The agents' control sockets from --run-dir-template or --lab-prefix. @throws UserError CLI_USAGE */
export function resolveEndpoints(command: string, spec: Spec, values: { 'run-dir-template'?: string | undefined; 'lab-prefix'?: string | undefined; 'lab-state-dir'?: string | undefined }): AgentEndpoint[] {
  const nodes = spec.cluster.nodes.map((n) => n.name);
  if (values['run-dir-template'] !== undefined) return endpointsFromTemplate(values['run-dir-template'], nodes);
  if (values['lab-prefix'] !== undefined) {
    const prefix = values['lab-prefix'];
    const stateFile = labStateFile({ prefix, ...(values['lab-state-dir'] === undefined ? {} : { stateDir: values['lab-state-dir'] }) });
    return endpointsFromTemplate(nodeRunDir(labFiles(stateFile, prefix).dir, '{node}'), nodes);
  }
  throw new UserError('CLI_USAGE', `${command}: say where the agents' run dirs are: --run-dir-template /run/overlay-lb (one machine, {node} = node name) or --lab-prefix P (the lab)`);
}

export async function runSwitchoverCommand(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('switchover', argv, {
    spec: { type: 'string' },
    to: { type: 'string' },
    'run-dir-template': { type: 'string' },
    'lab-prefix': { type: 'string' },
    'lab-state-dir': { type: 'string' },
    'drain-timeout': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(switchoverHelp), EXIT.ok);
  if (values.spec === undefined) throw new UserError('CLI_USAGE', 'switchover: --spec FILE is required');
  if (values.to === undefined) throw new UserError('CLI_USAGE', 'switchover: --to NODE is required');
  const drain = values['drain-timeout'] === undefined ? 15 : Number(values['drain-timeout']);
  if (!Number.isFinite(drain) || drain <= 0 || drain > 3600) throw new UserError('CLI_USAGE', `switchover: --drain-timeout ${JSON.stringify(values['drain-timeout'])} is not a number of seconds in (0, 3600]`);
  if (values['lab-state-dir'] !== undefined) await ensureWritableDirectory(values['lab-state-dir'], { what: 'switchover: --lab-state-dir', missing: 'allow', signal });
  const { spec } = await loadSpecFile(values.spec, { signal });
  const report = await runSwitchover({
    spec, to: values.to, endpoints: resolveEndpoints('switchover', spec, values), drainTimeoutMs: drain * 1000, signal,
    ...(values.json ? {} : { progress: (line: string) => io.out(line) }),
  });
  if (values.json) io.out(JSON.stringify(report, null, 2));
  else io.out(`switched over ${report.from ?? '?'} -> ${report.to}${report.drained ? '' : ' (drain timed out: connections still open then were reset)'}`);
  return EXIT.ok;
}
