import { doctor } from '../../provision/doctor.js';
import type { CheckResult } from '../../provision/doctor-checks.js';
import { UserError } from '../../util/errors.js';
import { parseCommandArgs, onePositional } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';

export const doctorHelp = `Usage: overlay-lb doctor SPEC [--json] [--endpoint-url URL] [--node NAME] [--local [--imds-endpoint URL]]

Checks, read-only, what failover needs of the cluster in the spec and names each problem with its
fix: each node's instance found by its address, running, source/destination check off; the nodes'
security groups pass VRRP (protocol 112) and the handoff link (UDP 4789) both ways between every
two nodes, and each frontend's port from the spec's client CIDRs; the VIP outside the VPC's CIDR
blocks, cluster.peerCidrs and every network a route sends to a peering, transit gateway or VPN;
a DryRun ReplaceRoute (CreateRoute where the route is missing) allowed on every selected route
table for the credentials doctor runs with; IMDSv2 required on every node; every node's published
spec hash equal. With --local, on a node, also: IMDSv2 answers, the EC2 API answers from the node
(VPC endpoint or NAT) within 5 s, the node's clock agrees with the API's, and iptables loads the
time match the connection handoff needs (tried in a throwaway network namespace). Only Describe
calls, S3 reads and DryRun requests: nothing is changed.
See docs/provisioning.md ("doctor").

  --json               {"checks":[{"id","status","subject","message","fix"}]} on stdout
  --endpoint-url URL   EC2 and S3 endpoint (the lab: see overlay-lb lab env); default the spec's
                       cluster.cloud.endpoint, else AWS's
  --node NAME          only the checks of this node (and the cluster-wide ones)
  --local              run on a node: add the node's own checks (the node is found by its
                       address through IMDS, else --node)
  --imds-endpoint URL  the metadata service (default http://169.254.169.254)
Credentials and region: the AWS SDK's default chain (on a node: its instance role); the region is
the spec's cluster.cloud.region.
Exit status: 0 no check failed (warnings allowed), 1 a check failed, 2 invalid spec.`;

/** One line per check: status, check, subject, what was found and the fix. */
export function formatCheck(c: CheckResult): string {
  return `${c.status.padEnd(4)} ${c.id} ${c.subject}: ${c.message}${c.fix === null ? '' : `. Fix: ${c.fix}`}`;
}

export async function runDoctorCommand(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('doctor', argv, {
    json: { type: 'boolean' }, 'endpoint-url': { type: 'string' }, node: { type: 'string' }, local: { type: 'boolean' }, 'imds-endpoint': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(doctorHelp), EXIT.ok);
  const specFile = onePositional('doctor', positionals, 'spec');
  const endpoint = values['endpoint-url'];
  if (endpoint !== undefined && !/^https?:\/\/[^\s'"`]+$/.test(endpoint)) throw new UserError('CLI_USAGE', `doctor: --endpoint-url ${JSON.stringify(endpoint)} is not an http(s) URL, for example http://127.0.0.1:4566/`);
  const imds = values['imds-endpoint'];
  if (imds !== undefined && values.local !== true) throw new UserError('CLI_USAGE', 'doctor: --imds-endpoint only counts with --local (the checks run on a node)');
  if (imds !== undefined && !/^https?:\/\/[^\s'"`]+$/.test(imds)) throw new UserError('CLI_USAGE', `doctor: --imds-endpoint ${JSON.stringify(imds)} is not an http(s) URL, for example http://169.254.169.254`);
  const result = await doctor({
    specFile, signal, ...(endpoint === undefined ? {} : { endpoint }), ...(values.node === undefined ? {} : { node: values.node }),
    ...(values.local === true ? { local: imds === undefined ? {} : { imdsEndpoint: imds } } : {}),
  });
  if (values.json === true) {
    io.out(JSON.stringify({ cluster: result.cluster, checks: result.checks, failed: result.failed }));
  } else {
    for (const c of result.checks) io.out(formatCheck(c));
    const count = (s: CheckResult['status']) => result.checks.filter((c) => c.status === s).length;
    io.out(`doctor: cluster ${result.cluster}: ${count('pass')} passed, ${count('warn')} warning(s), ${count('fail')} failed`);
  }
  return result.failed ? EXIT.failure : EXIT.ok;
}
