import { downCounts, formatDownPlan, type DownPlan } from '../../provision/down-plan.js';
import { down, type DownContext, type DownResult } from '../../provision/down.js';
import { UserError } from '../../util/errors.js';
import { parseCommandArgs, onePositional } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';

export const downHelp = `Usage: overlay-lb down SPEC [--plan | --yes] [--json] [--force] [--endpoint-url URL]

Removes exactly what overlay-lb up made for the spec's cluster, after printing the plan: what will
be removed (in reverse dependency order), what is already gone, and what is left alone because up
did not make it (no overlay-lb:cluster=<cluster name> tag; objects: no such metadata). Nothing
without that mark is ever deleted; a bucket that holds anything else is kept, with what it holds.
A second run finds everything gone and makes no write call. down refuses while the VIP still
carries traffic (a node's published status shows sessions, or a node it would remove has no fresh
status while the VIP route points at it) unless --force. See docs/provisioning.md.

  --plan               only show the plan (the default without --yes)
  --yes                remove what the plan lists
  --force              remove even while the VIP carries traffic or down cannot tell
  --json               the plan and the result as one JSON object on stdout
  --endpoint-url URL   EC2, IAM, S3 and STS endpoint (the lab: see overlay-lb lab env); default AWS's
Credentials and region: the AWS SDK's default chain (AWS_ACCESS_KEY_ID..., AWS_PROFILE); the
region is the spec's cluster.cloud.region.
Exit status: 0 done (or nothing to remove), 1 refused or a failed call, 2 invalid spec.`;

function printPlan(io: CliIo, plan: DownPlan, context: DownContext): void {
  io.out(`overlay-lb down: cluster ${context.cluster}, account ${context.account}, region ${context.region}`);
  for (const line of formatDownPlan(plan)) io.out(line);
  if (context.traffic === null) return;
  if (context.traffic.findings.length === 0) io.out('Traffic: no node shows sessions through the VIP.');
  for (const f of context.traffic.findings) io.out(`Traffic: ${f.message} [${f.reason}]`);
}

function printOutcome(io: CliIo, result: DownResult, mode: 'plan' | 'apply'): void {
  const c = downCounts(result.plan);
  if (c.remove === 0) {
    io.out(`Nothing to remove: nothing up made is left${c.keep + c.blocked > 0 ? ' (what is left alone above was not made by up)' : ''} (no write call was made).`);
  } else if (mode === 'plan') {
    io.out(`Nothing was removed (--plan). Remove it with --yes${result.context.traffic?.refuse === true ? ' (down would refuse while the VIP may carry traffic: --force overrides)' : ''}.`);
  } else if (result.applied !== null) {
    const a = result.applied;
    if (result.forced) io.out('--force: removed although the VIP may still carry traffic.');
    io.out(`Removed: ${a.removed.length}${a.leftAlone.length > 0 ? `; left alone: ${a.leftAlone.length} (see above)` : ''}.`);
  }
}

export async function runDownCommand(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('down', argv, {
    plan: { type: 'boolean' }, yes: { type: 'boolean' }, json: { type: 'boolean' }, force: { type: 'boolean' },
    'endpoint-url': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(downHelp), EXIT.ok);
  const specFile = onePositional('down', positionals, 'spec');
  if (values.plan === true && values.yes === true) throw new UserError('CLI_USAGE', 'down: --plan only shows the plan and --yes removes; give one of them');
  const endpoint = values['endpoint-url'];
  if (endpoint !== undefined && !/^https?:\/\/[^\s'"`]+$/.test(endpoint)) throw new UserError('CLI_USAGE', `down: --endpoint-url ${JSON.stringify(endpoint)} is not an http(s) URL, for example http://127.0.0.1:4566/`);
  const mode = values.yes === true ? 'apply' : 'plan';
  const result = await down({
    specFile, mode, signal, force: values.force === true, ...(endpoint === undefined ? {} : { endpoint }),
    ...(values.json === true ? {} : {
      onPlan: (plan, context) => printPlan(io, plan, context),
      onStep: (step) => io.out(`  removing ${step.label}`),
    }),
  });
  const counts = downCounts(result.plan);
  if (values.json === true) {
    io.out(JSON.stringify({
      cluster: result.context.cluster, account: result.context.account, region: result.context.region, mode,
      steps: result.plan.steps, notProvisioned: result.plan.pending, counts, traffic: result.context.traffic,
      applied: result.applied, forced: result.forced, nothingToRemove: counts.remove === 0,
    }));
  } else {
    printOutcome(io, result, mode);
  }
  return EXIT.ok;
}
