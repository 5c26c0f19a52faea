import { planCounts, planNotes, formatPlan, type ProvisionPlan } from '../../provision/engine.js';
import { up, type UpResult } from '../../provision/up.js';
import { UserError } from '../../util/errors.js';
import { parseCommandArgs, onePositional } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';

export const upHelp = `Usage: overlay-lb up SPEC --package DEB [--plan | --yes] [--json] [--endpoint-url URL]

Creates or converges what the spec's provision section asks for, after printing the plan: what
will be created, changed and left alone. Every resource up makes carries the tag
overlay-lb:cluster=<cluster name>; a resource with the same name but without that tag is a
conflict, reported with its fix, and nothing is changed. A second run with the same spec and
package makes no write call. up provisions the nodes' IAM role, its policy and instance
profile, the S3 bucket with the spec and the package, the nodes' security group, one instance
per node (booting from user-data that installs the package and starts the agent) and the VIP
route in every route table the spec selects. See docs/provisioning.md.

  --package DEB        the Debian package the nodes install (scripts/build-deb.sh)
  --plan               only show the plan (the default without --yes)
  --yes                apply the plan
  --json               the plan and the result as one JSON object on stdout
  --endpoint-url URL   EC2, IAM, S3 and STS endpoint (the lab: see overlay-lb lab env); default AWS's
Credentials and region: the AWS SDK's default chain (AWS_ACCESS_KEY_ID..., AWS_PROFILE); the
region is the spec's cluster.cloud.region.
Exit status: 0 done (or nothing to do), 1 a conflict or a failed call, 2 invalid spec.`;

function printPlan(io: CliIo, plan: ProvisionPlan, context: { readonly cluster: string; readonly account: string; readonly region: string }): void {
  io.out(`overlay-lb up: cluster ${context.cluster}, account ${context.account}, region ${context.region}`);
  for (const line of formatPlan(plan)) io.out(line);
}

function printOutcome(io: CliIo, result: UpResult, mode: 'plan' | 'apply'): void {
  const c = planCounts(result.plan);
  const notes = planNotes(result.plan).length;
  if (c.conflict > 0) {
    io.out(`Nothing was changed: resolve the conflict${c.conflict === 1 ? '' : 's'} above, then run up again.`);
  } else if (c.create + c.change === 0 && notes > 0) {
    const n = notes;
    io.out(`Nothing to do that up does by itself (no write call was made), but ${n} difference${n === 1 ? '' : 's'} above ${n === 1 ? 'is' : 'are'} left as ${n === 1 ? 'it is' : 'they are'}: see what each says to do.`);
  } else if (c.create + c.change === 0) {
    io.out('Nothing to do: everything up provisions is up to date (no write call was made).');
  } else if (mode === 'plan') {
    io.out('Nothing was changed (--plan). Apply it with --yes.');
  } else if (result.applied !== null) {
    const a = result.applied;
    io.out(`Applied: ${a.created.length} created, ${a.changed.length} changed${a.adopted.length > 0 ? `, ${a.adopted.length} found made by an earlier interrupted run` : ''}.`);
  }
}

export async function runUpCommand(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('up', argv, {
    package: { type: 'string' }, plan: { type: 'boolean' }, yes: { type: 'boolean' }, json: { type: 'boolean' },
    'endpoint-url': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(upHelp), EXIT.ok);
  const specFile = onePositional('up', positionals, 'spec');
  if (values.plan === true && values.yes === true) throw new UserError('CLI_USAGE', 'up: --plan only shows the plan and --yes applies it; give one of them');
  if (values.package === undefined) throw new UserError('CLI_USAGE', 'up: --package DEB is required: the Debian package the nodes install (build it with scripts/build-deb.sh)');
  const endpoint = values['endpoint-url'];
  if (endpoint !== undefined && !/^https?:\/\/[^\s'"`]+$/.test(endpoint)) throw new UserError('CLI_USAGE', `up: --endpoint-url ${JSON.stringify(endpoint)} is not an http(s) URL, for example http://127.0.0.1:4566/`);
  const mode = values.yes === true ? 'apply' : 'plan';
  const result = await up({
    specFile, packageFile: values.package, mode, signal, ...(endpoint === undefined ? {} : { endpoint }),
    ...(values.json === true ? {} : {
      onPlan: (plan, context) => printPlan(io, plan, context),
      onStep: (step) => io.out(`  ${step.action === 'create' ? 'creating' : 'changing'} ${step.label}`),
    }),
  });
  const counts = planCounts(result.plan);
  if (values.json === true) {
    io.out(JSON.stringify({
      cluster: result.cluster, account: result.account, region: result.region, mode,
      steps: result.plan.steps, notProvisioned: result.plan.pending, counts, applied: result.applied,
      upToDate: counts.create + counts.change + counts.conflict + counts.blocked === 0 && planNotes(result.plan).length === 0,
    }));
  } else {
    printOutcome(io, result, mode);
  }
  return counts.conflict > 0 ? EXIT.failure : EXIT.ok;
}
