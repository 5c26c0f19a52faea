/**
 * The AWS driver (and the lab's, which speaks the same API at a fixed endpoint): identity from
 * IMDSv2, credentials of the instance role from IMDSv2, one EC2 client (ec2-query.ts, not the SDK)
 * without retries (the guarded call retries, src/cloud/guarded-call.ts), and EC2's token buckets.
 */
import type { CloudDriver, CloudOpenOptions, CloudSession } from '../driver.js';
import { EC2_BUCKETS, TokenBucket } from '../../util/token-bucket.js';
import { Ec2AddressApi } from './ec2-addresses.js';
import { Ec2HeartbeatApi } from './ec2-heartbeat.js';
import { Ec2InstancesApi } from './ec2-instances.js';
import { createEc2Client, Ec2RouteApi } from './ec2-routes.js';
import { ImdsClient } from './imds.js';
import { LAB_EC2_ENDPOINT } from './endpoints.js';


function ec2Session(options: CloudOpenOptions, defaultEndpoint: string | undefined): CloudSession {
  const imds = new ImdsClient(options.metadataEndpoint ? { endpoint: options.metadataEndpoint } : {});
  return {
    identity: (nodeAddress, o) => imds.identity(nodeAddress, { signal: o.signal, ...(o.deadlineMs === undefined ? {} : { deadlineMs: o.deadlineMs }) }),
    connect: (identity) => {
      const endpoint = options.endpoint ?? options.cloud.endpoint ?? defaultEndpoint;
      const client = createEc2Client({ region: options.cloud.region ?? identity.region, ...(endpoint ? { endpoint } : {}), credentials: imds.roleCredentials({ signal: options.signal }) });
      return {
        identity,
        routes: new Ec2RouteApi(client),
        addresses: new Ec2AddressApi(client),
        heartbeat: new Ec2HeartbeatApi(client),
        instances: new Ec2InstancesApi(client),
        buckets: { mutating: new TokenBucket(EC2_BUCKETS.mutating), describe: new TokenBucket(EC2_BUCKETS.describe) },
      };
    },
  };
}

/** AWS: EC2's regional endpoint (or `AWS_ENDPOINT_URL_EC2`, as the SDKs), or `cloud.endpoint` (a VPC endpoint). */
export const awsDriver: CloudDriver = { open: (options) => ec2Session(options, undefined) };

/** The lab: the same API at the lab's endpoint unless overridden. */
export const labDriver: CloudDriver = { open: (options) => ec2Session(options, LAB_EC2_ENDPOINT) };
