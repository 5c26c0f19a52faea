/**
 * `overlay-lb doctor --local`: what only the node itself can observe, collected read-only for the
 * pure decisions of src/provision/doctor-checks.ts (`decideNodeChecks`): its metadata service
 * (IMDSv2, the agent's own client), its route to the EC2 API and the API's clock, and the
 * iptables `time` match the connection handoff needs, loaded as the agent loads it but in a
 * throwaway network namespace (`unshare --net`), so the node's own firewall is never touched.
 */
import type { NodeFacts } from '../cloud/doctor-facts.js';
import { ImdsClient } from '../cloud/aws/imds.js';
import type { AwsDoctorCollector } from '../cloud/aws/provision/doctor-collect.js';
import { runCommand } from '../util/exec.js';
import { OverlayError } from '../util/errors.js';

/** How long the EC2 API may take to answer one describe from the node (a failover's describe budget). */
export const API_PROBE_TIMEOUT_MS = 5_000;

/**
 * The agent's handoff rule's match part (src/handoff/handoff.ts: `-m time --datestop`, a
 * comment, a MARK), appended in a new, empty network namespace that disappears with the command.
 */
const TIME_MATCH_PROBE = ['unshare', '--net', '--', 'iptables', '-w', '5', '-t', 'mangle', '-A', 'PREROUTING', '-m', 'time', '--datestop', '2038-01-19T03:14:07', '-m', 'comment', '--comment', 'overlay-lb doctor probe', '-j', 'MARK', '--set-mark', '1'];

async function probeTimeMatch(signal: AbortSignal): Promise<NodeFacts['timeMatch']> {
  try {
    const r = await runCommand(TIME_MATCH_PROBE, { signal, timeoutMs: 15_000 });
    if (r.code === 0) return { ok: true };
    const message = (r.stderr.trim().split('\n')[0] ?? '') || `exit status ${r.code ?? r.signal ?? '?'}`;
    if (/unshare: .*(Operation not permitted|Permission denied)|must be root|Permission denied \(you must be root\)/i.test(r.stderr)) return { ok: false, cause: 'not-root', message };
    if (/time|No such file|Extension|match/i.test(r.stderr)) return { ok: false, cause: 'missing', message };
    return { ok: false, cause: 'other', message };
  } catch (err) {
    if (err instanceof OverlayError && err.code === 'TOOL_MISSING') return { ok: false, cause: 'missing', message: err.message };
    throw err;
  }
}

/** Collects the node's own facts. `imdsEndpoint`: @default http://169.254.169.254 */
export async function collectNodeFacts(options: {
  readonly collector: AwsDoctorCollector;
  readonly vpcId: string;
  readonly endpoint: string;
  readonly imdsEndpoint?: string;
  readonly signal: AbortSignal;
}): Promise<NodeFacts> {
  const { signal } = options;
  const imdsClient = new ImdsClient({ ...(options.imdsEndpoint === undefined ? {} : { endpoint: options.imdsEndpoint }) });
  let imds: NodeFacts['imds'];
  try {
    const instanceId = await imdsClient.get('meta-data/instance-id', { signal, deadlineMs: 5_000 });
    const address = await imdsClient.get('meta-data/local-ipv4', { signal, deadlineMs: 5_000 });
    imds = { ok: true, instanceId, address };
  } catch (err) {
    if (!(err instanceof OverlayError)) throw err;
    imds = { ok: false, message: err.message };
  }
  const probe = await options.collector.probeApi(options.vpcId, { signal, timeoutMs: API_PROBE_TIMEOUT_MS });
  const timeMatch = await probeTimeMatch(signal);
  return {
    imds,
    api: probe.ok ? { ok: true, endpoint: options.endpoint } : { ok: false, endpoint: options.endpoint, cause: probe.cause, message: probe.message },
    clockSkewMs: probe.ok ? probe.clockSkewMs : null,
    timeMatch,
  };
}
