import { xmlItems, xmlText } from '../../util/xml.js';
import { filterParams, listParams, type Ec2QueryClient } from './ec2-query.js';
import type { CallOptions, HeartbeatApi } from '../types.js';
import { wrapAwsError } from './errors.js';

/** HeartbeatApi over EC2's Query API: CreateTags on our ENI, DescribeNetworkInterfaces to read peers'. */
export class Ec2HeartbeatApi implements HeartbeatApi {
  constructor(private readonly client: Ec2QueryClient) {}

  async tagNetworkInterface(input: { networkInterfaceId: string; key: string; value: string }, options: CallOptions): Promise<void> {
    try {
      await this.client.call('CreateTags', { ...listParams('ResourceId', [input.networkInterfaceId]), 'Tag.1.Key': input.key, 'Tag.1.Value': input.value }, options.signal);
    } catch (err) {
      throw wrapAwsError(err, 'CreateTags', options.signal);
    }
  }

  async networkInterfaceTags(input: { networkInterfaceIds: readonly string[]; key: string }, options: CallOptions): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (input.networkInterfaceIds.length === 0) return out;
    try {
      // By filter, not by id: an id that no longer exists is left out instead of failing the call.
      const page = await this.client.call('DescribeNetworkInterfaces', filterParams([{ Name: 'network-interface-id', Values: [...input.networkInterfaceIds] }]), options.signal);
      for (const ni of xmlItems(page, 'networkInterfaceSet')) {
        const id = xmlText(ni, 'networkInterfaceId');
        if (id) out.set(id, xmlText(xmlItems(ni, 'tagSet').find((t) => xmlText(t, 'key') === input.key), 'value') ?? '');
      }
      return out;
    } catch (err) {
      throw wrapAwsError(err, 'DescribeNetworkInterfaces', options.signal);
    }
  }
}
