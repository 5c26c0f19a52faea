import { runAgent } from '../../agent/agent.js';
import { notifyReady } from '../../util/sd-notify.js';
import { fstatSync } from 'node:fs';
import { createLogger, routeProcessWarnings, stdoutIsJournal } from '../../util/log.js';
import type { LogLevel } from '../../util/log.js';
import { UserError } from '../../util/errors.js';
import { ensureWritableDirectory } from '../../ops/paths.js';
import { parseCommandArgs } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';

export const agentHelp = `Usage: overlay-lb agent --spec FILE --node NAME [--run-dir DIR] [--log-level LEVEL]
                      [--imds-endpoint URL] [--ec2-endpoint URL]
                      [--follow-release [--follow-interval MS]]

Runs the node agent: starts or attaches to HAProxy and keepalived with the compiled configs,
follows keepalived's transitions and moves the VIP (routes or Elastic IP) to this node when it is
master, and serves /status, /metrics and /alive. Logs are JSON lines on stdout (under systemd,
each with its syslog priority for journald); process warnings are logged the same way.
Stopping the agent leaves HAProxy and keepalived running; a restarted agent attaches to them.

  --spec FILE            the cluster's spec
  --node NAME            this node's name in cluster.nodes
  --run-dir DIR          sockets, FIFO, track file and configs (default: admin.stateDir)
  --log-level LEVEL      debug, info, warn or error (default info)
  --imds-endpoint URL    default http://169.254.169.254
  --ec2-endpoint URL     default cloud.endpoint (the lab: http://169.254.169.250); with a
                         provision section also the release bucket's S3 endpoint
  --follow-release       follow the spec versions \`overlay-lb apply --cluster\` gives this node in
                         the release bucket of the spec's provision section, and publish its
                         status there (set by the user-data of \`overlay-lb up\`, through
                         OVERLAY_LB_AGENT_ARGS in /etc/overlay-lb/agent.env)
  --follow-interval MS   with --follow-release: how often to poll this node's desired spec version
                         and publish its status (default 10000)`;

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export async function runAgentCommand(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('agent', argv, {
    spec: { type: 'string' },
    node: { type: 'string' },
    'run-dir': { type: 'string' },
    'log-level': { type: 'string' },
    'imds-endpoint': { type: 'string' },
    'ec2-endpoint': { type: 'string' },
    'follow-release': { type: 'boolean' },
    'follow-interval': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(agentHelp), EXIT.ok);
  if (values.spec === undefined) throw new UserError('CLI_USAGE', 'agent: --spec FILE is required');
  if (values.node === undefined) throw new UserError('CLI_USAGE', 'agent: --node NAME is required (one of the spec\'s cluster.nodes)');
  const follow = values['follow-interval'];
  if (follow !== undefined && !(/^\d+$/.test(follow) && Number(follow) >= 100 && Number(follow) <= 3_600_000)) {
    throw new UserError('CLI_USAGE', `agent: --follow-interval ${JSON.stringify(follow)} is not allowed: give milliseconds from 100 to 3600000, for example --follow-interval 10000`);
  }
  if (follow !== undefined && values['follow-release'] !== true) throw new UserError('CLI_USAGE', 'agent: --follow-interval applies only with --follow-release; add --follow-release or drop --follow-interval');
  const level = values['log-level'] ?? 'info';
  if (!(LEVELS as readonly string[]).includes(level)) throw new UserError('CLI_USAGE', `agent: --log-level ${JSON.stringify(level)} is not one of ${LEVELS.join(', ')}`);
  if (values['run-dir'] !== undefined) await ensureWritableDirectory(values['run-dir'], { what: 'agent: --run-dir', missing: 'allow', signal });
  const log = createLogger({ write: (line) => io.out(line), level: level as LogLevel, base: { component: 'agent' }, syslogPrefix: stdoutIsJournal(process.env, stdoutStat()) });
  const restoreWarnings = routeProcessWarnings(process, log);
  // systemctl reload (the unit's ExecReload sends SIGHUP): re-read the spec now. Without a
  // handler, SIGHUP would end the process.
  const reloadRequests = new EventTarget();
  const onHangup = (): void => {
    reloadRequests.dispatchEvent(new Event('reload'));
  };
  process.on('SIGHUP', onHangup);
  try {
    await runAgent({
      specFile: values.spec,
      node: values.node,
      ...(values['run-dir'] !== undefined ? { runDir: values['run-dir'] } : {}),
      ...(values['imds-endpoint'] !== undefined ? { imdsEndpoint: values['imds-endpoint'] } : {}),
      ...(values['ec2-endpoint'] !== undefined ? { ec2Endpoint: values['ec2-endpoint'] } : {}),
      ...(values['follow-release'] === true ? { followRelease: true } : {}),
      ...(follow !== undefined ? { followIntervalMs: Number(follow) } : {}),
      log,
      signal,
      reloadRequests,
      // Type=notify: READY=1 only now, when the node really serves (a no-op outside systemd).
      onReady: () => {
        void notifyReady({ status: `serving as node ${values.node ?? ''}`, log, signal });
      },
    });
  } finally {
    process.off('SIGHUP', onHangup);
    restoreWarnings();
  }
  return EXIT.ok;
}

function stdoutStat(): { dev: number; ino: number } | null {
  try {
    return fstatSync(1);
  } catch {
    return null;
  }
}
