import { CreateTagsCommand, DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { CallOptions, HeartbeatApi } from '../types.js';
import { wrapAwsError } from './errors.js';

/** HeartbeatApi over the AWS SDK: CreateTags on our ENI, DescribeNetworkInterfaces to read peers'. */
export class Ec2HeartbeatApi implements HeartbeatApi {
  constructor(private readonly client: EC2Client) {}

  async tagNetworkInterface(input: { networkInterfaceId: string; key: string; value: string }, options: CallOptions): Promise<void> {
    try {
      await this.client.send(new CreateTagsCommand({ Resources: [input.networkInterfaceId], Tags: [{ Key: input.key, Value: input.value }] }), { abortSignal: options.signal });
    } catch (err) {
      throw wrapAwsError(err, 'CreateTags', options.signal);
    }
  }

  async networkInterfaceTags(input: { networkInterfaceIds: readonly string[]; key: string }, options: CallOptions): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (input.networkInterfaceIds.length === 0) return out;
    try {
      // By filter, not by id: an id that no longer exists is left out instead of failing the call.
      const page = await this.client.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'network-interface-id', Values: [...input.networkInterfaceIds] }] }), { abortSignal: options.signal });
      for (const ni of page.NetworkInterfaces ?? []) {
        if (ni.NetworkInterfaceId) out.set(ni.NetworkInterfaceId, ni.TagSet?.find((t) => t.Key === input.key)?.Value ?? '');
      }
      return out;
    } catch (err) {
      throw wrapAwsError(err, 'DescribeNetworkInterfaces', options.signal);
    }
  }
}
