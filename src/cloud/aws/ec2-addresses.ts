import { xmlItems, xmlText } from '../../util/xml.js';
import { listParams, type Ec2QueryClient } from './ec2-query.js';
import type { AddressApi, AddressInfo, CallOptions } from '../types.js';
import { OverlayError } from '../../util/errors.js';
import { wrapAwsError } from './errors.js';

/** AddressApi (Elastic IPs) over EC2's Query API. */
export class Ec2AddressApi implements AddressApi {
  constructor(private readonly client: Ec2QueryClient) {}

  async describeAddress(input: { allocationId: string }, options: CallOptions): Promise<AddressInfo> {
    try {
      const out = await this.client.call('DescribeAddresses', listParams('AllocationId', [input.allocationId]), options.signal);
      const a = xmlItems(out, 'addressesSet')[0];
      if (!a) throw new OverlayError('CLOUD_NOT_FOUND', `Elastic IP ${input.allocationId} does not exist; check cloud.eipAllocationId`);
      const nonEmpty = (name: string): string | null => {
        const value = xmlText(a, name);
        return value === undefined || value === '' ? null : value;
      };
      return { allocationId: input.allocationId, publicIp: xmlText(a, 'publicIp') ?? '', networkInterfaceId: nonEmpty('networkInterfaceId'), privateIp: nonEmpty('privateIpAddress') };
    } catch (err) {
      throw wrapAwsError(err, 'DescribeAddresses', options.signal);
    }
  }

  async associateAddress(input: { allocationId: string; networkInterfaceId: string; privateIp: string }, options: CallOptions): Promise<void> {
    try {
      await this.client.call('AssociateAddress', {
        AllocationId: input.allocationId,
        NetworkInterfaceId: input.networkInterfaceId,
        PrivateIpAddress: input.privateIp,
        AllowReassociation: 'true',
      }, options.signal);
    } catch (err) {
      throw wrapAwsError(err, 'AssociateAddress', options.signal);
    }
  }
}
