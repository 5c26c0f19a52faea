/**
 * The IMDS hop limit (`MetadataOptions.HttpPutResponseHopLimit`), enforced as EC2 does: it is the
 * IP TTL of the IMDS's answer to the token PUT
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-existing-instances.html).
 * With hop limit 1 the answer reaches the instance and dies at the first forwarding hop after it,
 * so a container or namespace routed (and NATed) behind the instance gets no token (its PUT
 * hangs, as on EC2) while the instance does; with 2 it gets one. GET answers (IMDSv1, and
 * IMDSv2 calls with a token) keep the default TTL, as on EC2.
 *
 * The lab's IMDS answers instances from the router namespace: a relay there
 * (src/lab/netns-relay.ts) holds each instance's TCP connection, so the answer's packets leave
 * the router from 169.254.169.254:80. An iptables rule in the router's mangle OUTPUT sets their TTL
 * per destination instance, on the packets that carry the token answer's header line (only the
 * answer to the token PUT carries `x-aws-ec2-metadata-token-ttl-seconds`; string match), so the
 * rest of the connection is untouched. One chain, rewritten whole on every change (one
 * `iptables-restore --noflush`), so any process can redo it from the model; `lab down` removes it
 * with the router namespace.
 */
import { execIn, iptablesIn, runCommand } from '../netns.js';
import { TOKEN_TTL_HEADER } from './server.js';
import type { World } from '../ec2/state.js';

/** The mangle chain (router namespace) that holds one TTL rule per API-launched instance. */
export const IMDS_HOP_LIMIT_CHAIN = 'OLB-IMDS-HOP';

/** One instance's hop limit, by its primary private address. */
export interface ImdsHopLimit {
  readonly privateIp: string;
  readonly hopLimit: number;
}

/**
 * The `iptables-restore --noflush` input that replaces the chain's rules by one TTL rule per
 * instance (declaring the chain flushes it). Pure, for tests.
 */
export function imdsHopLimitRestore(limits: readonly ImdsHopLimit[]): string {
  const marker = `|0d0a|${TOKEN_TTL_HEADER}:`;
  const lines = ['*mangle', `:${IMDS_HOP_LIMIT_CHAIN} - [0:0]`];
  for (const { privateIp, hopLimit } of limits) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(privateIp) || !Number.isInteger(hopLimit) || hopLimit < 1 || hopLimit > 64) {
      throw new Error(`imds hop limit: bad entry ${JSON.stringify({ privateIp, hopLimit })}`);
    }
    lines.push(`-A ${IMDS_HOP_LIMIT_CHAIN} -d ${privateIp}/32 -m string --algo bm --hex-string "${marker}" -j TTL --ttl-set ${hopLimit}`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The jump from mangle OUTPUT (`op`: -C checks, -A adds): packets the router sends from the IMDS's address and port. */
function jump(op: '-C' | '-A', imdsAddress: string): string[] {
  return ['-t', 'mangle', op, 'OUTPUT', '-s', `${imdsAddress}/32`, '-p', 'tcp', '--sport', '80', '-j', IMDS_HOP_LIMIT_CHAIN];
}

export interface ImdsHopLimits {
  /**
   * Makes the kernel rules match `read()` (read when the change runs: requests that queue up
   * meanwhile collapse into one). Changes apply one at a time, in order.
   */
  sync(read: () => readonly ImdsHopLimit[], options: { readonly signal: AbortSignal }): Promise<void>;
}

/** The hop limits of a lab's instances, in its router namespace. */
export function createImdsHopLimits(options: { readonly routerNamespace: string; readonly imdsAddress: string }): ImdsHopLimits {
  const router = options.routerNamespace;
  let queue: Promise<void> = Promise.resolve();
  let waiting: Promise<void> | null = null;
  let installed = false;
  const apply = async (read: () => readonly ImdsHopLimit[], signal: AbortSignal): Promise<void> => {
    waiting = null;
    const input = imdsHopLimitRestore(read());
    await runCommand(execIn(router, ['iptables-restore', '-w', '5', '--noflush']), { signal, input });
    if (!installed) {
      // A restarted controller finds the jump in place (-C), a new lab adds it once.
      const present = await runCommand(iptablesIn(router, jump('-C', options.imdsAddress)), { signal, allowFailure: true });
      if (present.code !== 0) await runCommand(iptablesIn(router, jump('-A', options.imdsAddress)), { signal });
      installed = true;
    }
  };
  return {
    sync: (read, { signal }) => {
      if (waiting !== null) return waiting;
      const next = queue.then(() => apply(read, signal));
      waiting = next;
      queue = next.catch(() => undefined);
      return next;
    },
  };
}

/**
 * The hop limits of the instances that have metadata options (launched through RunInstances, or
 * given options by ModifyInstanceMetadataOptions) and are not terminated, by primary address.
 */
export function imdsHopLimitsOf(world: Readonly<Pick<World, 'instances' | 'networkInterfaces'>>): ImdsHopLimit[] {
  const out: ImdsHopLimit[] = [];
  for (const instance of Object.values(world.instances)) {
    if (instance.metadataOptions === undefined || instance.state === 'terminated') continue;
    const eni = Object.values(world.networkInterfaces).find((e) => e.attachment?.instanceId === instance.instanceId && e.attachment.deviceIndex === 0);
    if (eni !== undefined) out.push({ privateIp: eni.privateIp, hopLimit: instance.metadataOptions.httpPutResponseHopLimit });
  }
  return out.sort((a, b) => a.privateIp.localeCompare(b.privateIp));
}
