/**
 * The real-account smoke run's command line (scripts/aws-smoke.sh; src/provision/smoke.ts does the
 * run): the arguments, the credential rule that skips the run on a machine without AWS
 * credentials (CI), progress lines, and the report as text or one JSON object.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { smokeRun, type SmokeReport } from '../../provision/smoke.js';
import { UserError } from '../../util/errors.js';
import { onePositional, parseCommandArgs } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';
import { checkEndpoint } from './rollout.js';

export const smokeHelp = `Usage: scripts/aws-smoke.sh SPEC --package DEB --change SPEC2 [--json] [--keep]
                           [--endpoint-url URL] [--client-subnet SUBNET] [--wait-minutes N]

The real-account smoke run: the lab's end-to-end scenario against a real account and region.
It runs overlay-lb up SPEC --yes (the spec's cluster must not exist yet), launches a client
instance in the VPC that requests the VIP every 200 ms, terminates the master's instance and
times the failover (the VIP routes moving, the client's outage), runs up again (the node is
replaced), rolls SPEC2 out with apply --cluster, then always terminates the client and, unless
--keep, runs overlay-lb down. It prints a report. It costs a few cents: three instances of the
spec's type for about 15 minutes, an S3 bucket and requests. See docs/provisioning.md,
"A real-account smoke run".

  --package DEB          the Debian package the nodes install (scripts/build-deb.sh)
  --change SPEC2         a changed copy of SPEC (same cluster) that apply --cluster rolls out
  --json                 the report as one JSON object on stdout (progress on stderr)
  --keep                 leave the cluster up at the end (remove it with overlay-lb down SPEC --yes)
  --endpoint-url URL     EC2, IAM, S3 and STS endpoint (the lab); default AWS's
  --client-subnet ID     the client's subnet (default: the first node's); its addresses must be
                         in the frontend's provision.clients
  --wait-minutes N       the deadline of each wait (default 15)
Credentials: the AWS SDK's default chain; the region is the spec's cluster.cloud.region. The run
is skipped (exit 0, "skipped: no AWS credentials") unless credentials are given: the environment
has AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE or
AWS_CONTAINER_CREDENTIALS_FULL_URI/RELATIVE_URI, or the shared credentials or config file
exists (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, default ~/.aws/credentials and
~/.aws/config). An instance role alone does not count: set AWS_PROFILE or the variables.
Exit status: 0 passed (or skipped), 1 a step failed or something was left, 2 invalid spec, 64 usage.`;

/**
 * Where the credentials are given, by the rule of {@link smokeHelp} (names only, never values);
 * null: none given, the run is skipped.
 */
export function credentialSource(env: NodeJS.ProcessEnv, fileExists: (path: string) => boolean, home: string): string | null {
  const set = (k: string): boolean => (env[k] ?? '') !== '';
  if (set('AWS_ACCESS_KEY_ID') && set('AWS_SECRET_ACCESS_KEY')) return 'AWS_ACCESS_KEY_ID';
  for (const k of ['AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']) if (set(k)) return k;
  for (const file of [env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials'), env.AWS_CONFIG_FILE || join(home, '.aws', 'config')]) {
    if (fileExists(file)) return file;
  }
  return null;
}

const seconds = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);

/** The report as text lines. */
export function formatSmokeReport(r: SmokeReport): string[] {
  const out = [`Smoke run of cluster ${r.cluster} in ${r.region} (account ${r.account ?? '?'}): ${r.ok ? 'PASSED' : 'FAILED'} in ${seconds(r.durationMs)}`];
  for (const s of r.steps) out.push(`  ${s.step.padEnd(24)} ${seconds(s.ms).padStart(9)}  ${s.detail}`);
  if (r.client !== null) {
    const c = r.client.summary;
    out.push(`Client ${r.client.instanceId} (${r.client.subnetId}) -> ${r.client.url}: ${c.requests} requests, ${c.answered} answered, ${c.failed} failed; first answer ${seconds(r.client.firstAnswerMs)} after its launch`);
  }
  if (r.failover !== null) {
    const f = r.failover;
    out.push(`Failover: master ${f.master} (${f.masterInstanceId}) terminated; every VIP route at ${f.servedBy} after ${seconds(f.routesMovedMs)}; client outage ${f.outage === null ? 'none (no failed request)' : `${seconds(f.outage.ms)}, ${f.outage.failedRequests} failed requests`}`);
  }
  if (r.apply !== null) out.push(`apply --cluster: spec version ${r.apply.specVersion} on ${r.apply.passed.join(', ')} in ${seconds(r.apply.ms)}`);
  if (r.down !== null) out.push(`down: ${r.down.removed} removed; ${r.down.leftAfter === 0 ? 'nothing of the cluster left' : `${r.down.leftAfter} still there: run overlay-lb down SPEC --yes --force`}`);
  if (r.kept) out.push('--keep: the cluster is still up; remove it with overlay-lb down SPEC --yes');
  if (r.error !== null) out.push(`Failed at step "${r.error.step}": ${r.error.message} [${r.error.code}]`);
  return out;
}

function waitMinutes(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 120) throw new UserError('CLI_USAGE', `smoke: --wait-minutes ${JSON.stringify(value)} is not allowed: give whole minutes from 1 to 120, for example --wait-minutes 15`);
  return Number(value) * 60_000;
}

/** Runs the smoke run: exit 0 passed or skipped, 1 failed. */
export async function runSmokeCommand(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('smoke', argv, {
    package: { type: 'string' }, change: { type: 'string' }, json: { type: 'boolean' }, keep: { type: 'boolean' },
    'endpoint-url': { type: 'string' }, 'client-subnet': { type: 'string' }, 'wait-minutes': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(smokeHelp), EXIT.ok);
  const specFile = onePositional('smoke', positionals, 'spec');
  if (values.package === undefined) throw new UserError('CLI_USAGE', 'smoke: --package DEB is required: the Debian package the nodes install (build it with scripts/build-deb.sh)');
  if (values.change === undefined) throw new UserError('CLI_USAGE', 'smoke: --change SPEC2 is required: a copy of the spec with a routing change, which apply --cluster rolls out');
  const subnet = values['client-subnet'];
  if (subnet !== undefined && !/^subnet-[0-9a-f]{8,17}$/.test(subnet)) throw new UserError('CLI_USAGE', `smoke: --client-subnet ${JSON.stringify(subnet)} is not a subnet id, for example subnet-0123456789abcdef0`);
  const endpoint = checkEndpoint('smoke', values['endpoint-url']);
  const wait = waitMinutes(values['wait-minutes']);
  const json = values.json === true;
  const source = credentialSource(process.env, existsSync, homedir());
  if (source === null) {
    const line = 'skipped: no AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write ~/.aws/credentials; see scripts/aws-smoke.sh --help)';
    io.out(json ? JSON.stringify({ skipped: true, reason: line }) : line);
    return EXIT.ok;
  }
  const progress = (line: string): void => (json ? io.err(`smoke: ${line}`) : io.out(`smoke: ${line}`));
  progress(`credentials from ${source}`);
  const report = await smokeRun({
    specFile, packageFile: values.package, changeSpecFile: values.change, endpoint, keep: values.keep === true, clientSubnet: subnet, signal, onProgress: progress,
    ...(wait === undefined ? {} : { waitMs: wait }),
  });
  if (json) io.out(JSON.stringify({ skipped: false, ...report }));
  else for (const line of formatSmokeReport(report)) io.out(line);
  return report.ok ? EXIT.ok : EXIT.failure;
}
