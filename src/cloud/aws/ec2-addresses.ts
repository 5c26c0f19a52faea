import { AssociateAddressCommand, DescribeAddressesCommand } from '@aws-sdk/client-ec2';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { AddressApi, AddressInfo, CallOptions } from '../types.js';
import { OverlayError } from '../../util/errors.js';
import { wrapAwsError } from './errors.js';

/** AddressApi (Elastic IPs) over the AWS SDK. */
export class Ec2AddressApi implements AddressApi {
  constructor(private readonly client: EC2Client) {}

  async describeAddress(input: { allocationId: string }, options: CallOptions): Promise<AddressInfo> {
    try {
      const out = await this.client.send(new DescribeAddressesCommand({ AllocationIds: [input.allocationId] }), { abortSignal: options.signal });
      const a = out.Addresses?.[0];
      if (!a) throw new OverlayError('CLOUD_NOT_FOUND', `Elastic IP ${input.allocationId} does not exist; check cloud.eipAllocationId`);
      return { allocationId: input.allocationId, publicIp: a.PublicIp ?? '', networkInterfaceId: a.NetworkInterfaceId ?? null, privateIp: a.PrivateIpAddress ?? null };
    } catch (err) {
      throw wrapAwsError(err, 'DescribeAddresses', options.signal);
    }
  }

  async associateAddress(input: { allocationId: string; networkInterfaceId: string; privateIp: string }, options: CallOptions): Promise<void> {
    try {
      await this.client.send(new AssociateAddressCommand({
        AllocationId: input.allocationId,
        NetworkInterfaceId: input.networkInterfaceId,
        PrivateIpAddress: input.privateIp,
        AllowReassociation: true,
      }), { abortSignal: options.signal });
    } catch (err) {
      throw wrapAwsError(err, 'AssociateAddress', options.signal);
    }
  }
}
