/**
 * Route convergence after a claim, under the lab API's AWS-sized token buckets (throttling on):
 * overlay-lb's `claimRoutes` (parallel under our own bucket, read back) against the original
 * design's sequential replace-route, one after another (with the SDK, so process start-up is not
 * counted against it; and, for small N, with the aws CLI as the notify script runs it).
 * From the host, against the lab API with the admin credentials.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ReplaceRouteCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { LabHandle } from '../../src/lab/lab.js';
import { claimRoutes } from '../../src/cloud/claim.js';
import { createEc2Client, Ec2RouteApi } from '../../src/cloud/aws/ec2-routes.js';
import { EC2_BUCKETS, TokenBucket } from '../../src/util/token-bucket.js';
import { runCommand } from '../../src/util/exec.js';

export interface ConvergenceRow {
  readonly tables: number;
  /** What the bucket allows for N writes from a full bucket: 0 for N <= burst, (N - burst) / refill s above. */
  readonly bucketBoundMs: number;
  readonly ours: { readonly ms: number; readonly claimed: number; readonly failed: number };
  readonly sequentialSdk: { readonly ms: number; readonly ok: number; readonly failed: number };
  /** Only for small N (each call starts a Python process). */
  readonly sequentialCli: { readonly ms: number; readonly ok: number; readonly failed: number } | null;
}

/**
 * Measures convergence for each table count. Creates the extra route tables it needs in the
 * lab's VPC (with the VIP route on `fromEni`), claims them for `toEni`, resets them directly in
 * the cloud (no API call, no token) between runs, and waits for the API's buckets to refill.
 */
export async function measureConvergence(lab: LabHandle, options: {
  readonly counts: readonly number[];
  readonly vip: string;
  readonly fromEni: string;
  readonly toEni: string;
  readonly cliMaxTables: number;
  readonly signal: AbortSignal;
  readonly log: (msg: string) => void;
  /** A round trip the lab adds to every EC2 call (its `api-latency` fault on `*`), as AWS's is tens to hundreds of ms. @default 0 */
  readonly latencyMs?: number;
}): Promise<ConvergenceRow[]> {
  const { signal } = options;
  const cloud = lab.controller.cloud;
  const cidr = `${options.vip}/32`;
  const vpcId = lab.plan.vpc.id;
  const tables: string[] = [];
  const ensureTables = (n: number): string[] => {
    while (tables.length < n) {
      const { routeTableId } = cloud.createRouteTable({ vpcId, tags: { Name: `bench-convergence-${tables.length + 1}` } });
      cloud.createRoute({ routeTableId, destinationCidrBlock: cidr, target: { networkInterfaceId: options.fromEni } });
      tables.push(routeTableId);
    }
    return tables.slice(0, n);
  };
  const reset = (ids: readonly string[]): void => {
    for (const id of ids) cloud.replaceRoute({ routeTableId: id, destinationCidrBlock: cidr, target: { networkInterfaceId: options.fromEni } });
  };
  // A full mutating bucket: 50 tokens at 5/s = 10 s from empty; describe 100 at 20/s = 5 s.
  const refill = (): Promise<void> => sleep(11_000, undefined, { signal });
  const region = lab.plan.region;
  const credentials = { accessKeyId: lab.adminCredentials.accessKeyId, secretAccessKey: lab.adminCredentials.secretAccessKey };
  const api = new Ec2RouteApi(createEc2Client({ region, endpoint: lab.apiUrl, credentials }));
  // The sequential baseline: the SDK's defaults (standard retry mode, 3 attempts), like a script would get.
  const sdk = new EC2Client({ region, endpoint: lab.apiUrl, credentials });

  await lab.faults.inject({ kind: 'api-throttle' });
  if ((options.latencyMs ?? 0) > 0) await lab.faults.inject({ kind: 'api-latency', action: '*', ms: options.latencyMs ?? 0 });
  const rows: ConvergenceRow[] = [];
  try {
    for (const n of options.counts) {
      const ids = ensureTables(n);
      reset(ids);
      await refill();
      options.log(`convergence: ${n} tables, overlay-lb claim`);
      let t = performance.now();
      const outcomes = await claimRoutes({
        api, tables: ids, destinationCidr: cidr, networkInterfaceId: options.toEni, signal,
        buckets: { mutating: new TokenBucket(EC2_BUCKETS.mutating), describe: new TokenBucket(EC2_BUCKETS.describe) },
        deadlineMs: 300_000,
      });
      const ours = { ms: Math.round(performance.now() - t), claimed: outcomes.filter((o) => o.kind === 'claimed' || o.kind === 'already-ours').length, failed: outcomes.filter((o) => o.kind === 'failed').length };

      reset(ids);
      await refill();
      options.log(`convergence: ${n} tables, sequential SDK`);
      t = performance.now();
      let ok = 0;
      let failed = 0;
      for (const id of ids) {
        try {
          await sdk.send(new ReplaceRouteCommand({ RouteTableId: id, DestinationCidrBlock: cidr, NetworkInterfaceId: options.toEni }), { abortSignal: signal });
          ok++;
        } catch {
          failed++;
        }
      }
      const sequentialSdk = { ms: Math.round(performance.now() - t), ok, failed };

      let sequentialCli: ConvergenceRow['sequentialCli'] = null;
      if (n <= options.cliMaxTables) {
        reset(ids);
        await refill();
        options.log(`convergence: ${n} tables, sequential aws CLI`);
        t = performance.now();
        let cok = 0;
        let cfailed = 0;
        for (const id of ids) {
          const r = await runCommand(['/usr/bin/aws', 'ec2', 'replace-route', '--route-table-id', id, '--destination-cidr-block', cidr, '--network-interface-id', options.toEni, '--endpoint-url', lab.apiUrl], {
            signal, timeoutMs: 60_000,
            env: { ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_DEFAULT_REGION: region, AWS_PAGER: '', HOME: '/tmp' },
          });
          if (r.code === 0) cok++;
          else cfailed++;
        }
        sequentialCli = { ms: Math.round(performance.now() - t), ok: cok, failed: cfailed };
      }
      const burst = EC2_BUCKETS.mutating.capacity;
      rows.push({ tables: n, bucketBoundMs: n <= burst ? 0 : Math.round(((n - burst) / EC2_BUCKETS.mutating.refillPerSec) * 1000), ours, sequentialSdk, sequentialCli });
      options.log(`convergence ${n}: ${JSON.stringify(rows.at(-1))}`);
    }
  } finally {
    await lab.faults.clear({ kind: 'api-throttle' });
    if ((options.latencyMs ?? 0) > 0) await lab.faults.clear({ kind: 'api-latency', action: '*', ms: options.latencyMs ?? 0 });
    sdk.destroy();
  }
  return rows;
}
