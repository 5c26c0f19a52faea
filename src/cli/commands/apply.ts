import { resolve } from 'node:path';
import { applySpecToRunDir } from '../../apply/apply-spec.js';
import { describeReasons } from '../../apply/executor.js';
import { loadSpecFile } from '../../ops/load-spec.js';
import { ensureWritableDirectory } from '../../ops/paths.js';
import type { Plan, RuntimeOp } from '../../plan/planner.js';
import { UserError } from '../../util/errors.js';
import { createLogger } from '../../util/log.js';
import { onePositional, parseCommandArgs } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';
import { runClusterRollout } from './rollout.js';

export const applyHelp = `Usage: overlay-lb apply SPEC --node NAME --run-dir DIR [--dry-run]
       overlay-lb apply SPEC --cluster [--json] [--endpoint-url URL] [--node-timeout SECONDS]

Rolls a changed spec out to the haproxy whose files live in DIR (haproxy.cfg, maps/,
applied-state.json). The spec is validated first: an invalid spec changes nothing (exit 2).
Runtime-safe changes (switch flips, split weights, map entries, server weights and addresses)
go through the Runtime API without a reload; anything else is one seamless reload, printed with
its reasons. Discovered servers stay as the last apply recorded them.

  --node NAME     the node this haproxy is (a name from cluster.nodes)
  --run-dir DIR   the haproxy run directory
  --dry-run       print the plan and the resulting config hash; change nothing

Every node computes the same config hash from the same spec and membership.

With --cluster (a cluster made by overlay-lb up), from an operator's machine: the spec is
validated here (an invalid one changes nothing anywhere, exit 2), stored as a new version in the
release bucket, and the nodes take it one at a time, backups first and the master last; each
must show the version applied, haproxy healthy, VRRP MASTER or BACKUP and no problem in the
status it publishes, and pass doctor's checks about it (instance running, source/dest check
off, VRRP and UDP 4789 open to the other nodes, one master), before the next is asked. The first node that fails stops the rollout: the
nodes after it stay on their version (exit 1, naming the node and why). See
docs/provisioning.md, "Rolling a spec out".

  --cluster                roll out to every node through the release bucket
  --json                   the result as one JSON object on stdout
  --endpoint-url URL       S3 and STS endpoint (the lab: see overlay-lb lab env); default AWS's
  --node-timeout SECONDS   how long one node may take (default 120)`;

export async function runApply(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('apply', argv, {
    node: { type: 'string' },
    'run-dir': { type: 'string' },
    'dry-run': { type: 'boolean' },
    cluster: { type: 'boolean' },
    json: { type: 'boolean' },
    'endpoint-url': { type: 'string' },
    'node-timeout': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(applyHelp), EXIT.ok);
  const file = onePositional('apply', positionals, 'spec');
  if (values.cluster === true) {
    if (values.node !== undefined || values['run-dir'] !== undefined || values['dry-run'] === true) throw new UserError('CLI_USAGE', 'apply: --cluster rolls out to every node through the release bucket; --node, --run-dir and --dry-run apply to one local haproxy: give one or the other');
    return runClusterRollout('apply', { file, json: values.json === true, endpoint: values['endpoint-url'], nodeTimeout: values['node-timeout'] }, io, signal);
  }
  if (values.json === true || values['endpoint-url'] !== undefined || values['node-timeout'] !== undefined) throw new UserError('CLI_USAGE', 'apply: --json, --endpoint-url and --node-timeout go with --cluster');
  if (values.node === undefined) throw new UserError('CLI_USAGE', "apply: --node NAME is required (one of the spec's cluster.nodes)");
  if (values['run-dir'] === undefined || values['run-dir'].trim() === '') throw new UserError('CLI_USAGE', 'apply: --run-dir DIR is required, for example --run-dir /run/overlay-lb');
  const runDir = await ensureWritableDirectory(resolve(values['run-dir']), { what: 'apply: --run-dir', missing: 'error', signal });
  const { spec, hash } = await loadSpecFile(file, { signal });
  const report = await applySpecToRunDir({
    spec,
    specHash: hash,
    node: values.node,
    runDir,
    dryRun: values['dry-run'] === true,
    signal,
    log: createLogger({ write: (line) => io.err(line), level: 'warn' }),
  });
  if (report.appliedNote !== undefined) io.out(`note: ${report.appliedNote}`);
  for (const line of describePlan(report.plan)) io.out(line);
  io.out(`config sha256 ${report.configHash} (structure ${report.structuralHash.slice(0, 16)})`);
  const r = report.result;
  if (r === undefined) return EXIT.ok;
  switch (r.kind) {
    case 'noop':
      io.out('result: nothing to change');
      return EXIT.ok;
    case 'runtime':
      io.out(`result: applied ${r.ops} runtime operation${r.ops === 1 ? '' : 's'}, no reload`);
      return EXIT.ok;
    case 'reloaded':
      io.out(`result: reloaded (reload ${r.reloadId}), then ${r.ops} runtime operation${r.ops === 1 ? '' : 's'}`);
      return EXIT.ok;
    case 'fell-back-to-reload':
      io.out(`result: a runtime operation failed (${r.error.message}); reloaded instead (reload ${r.reloadId})`);
      return EXIT.ok;
    case 'failed':
      io.err(`overlay-lb apply: ${r.error.message} [${r.error.code}]`);
      io.err(r.live === 'unchanged' ? 'haproxy still runs the previous configuration.' : 'haproxy reloaded but its discovered servers could not all be restored; run apply again.');
      return EXIT.failure;
  }
}

function describePlan(p: Plan): string[] {
  switch (p.kind) {
    case 'none':
      return ['plan: no change'];
    case 'runtime':
      return [`plan: ${p.ops.length} runtime operation${p.ops.length === 1 ? '' : 's'}, no reload`, ...p.reasons.map((r) => `  reason ${describeReasons([r])}`), ...p.ops.map((o) => `  ${describeOp(o)}`)];
    case 'reload':
      return [`plan: one reload, then ${p.after.length} runtime operation${p.after.length === 1 ? '' : 's'}`, ...p.reasons.map((r) => `  reason ${describeReasons([r])}`)];
  }
}

function describeOp(o: RuntimeOp): string {
  switch (o.op) {
    case 'set-server-addr': return `set server ${o.backend}/${o.server} addr ${o.address} port ${o.port}`;
    case 'set-server-weight': return `set server ${o.backend}/${o.server} weight ${o.weight}`;
    case 'set-server-state': return `set server ${o.backend}/${o.server} state ${o.state}`;
    case 'set-server-health': return `set server ${o.backend}/${o.server} health ${o.health}`;
    case 'shutdown-sessions': return `shutdown sessions server ${o.backend}/${o.server}`;
    case 'map-add': return `add map ${o.map} ${o.key} ${o.value}`;
    case 'map-set': return `set map ${o.map} ${o.key} ${o.value}`;
    case 'map-del': return `del map ${o.map} ${o.key}`;
    case 'map-replace': return `replace map ${o.map} (${o.entries.length} entries)`;
  }
}
