import { xmlChild, xmlItems, xmlText } from '../../util/xml.js';
import { filterParams, type Ec2Filter, type Ec2QueryClient } from './ec2-query.js';
import type { InstanceDescriber, InstanceSummary } from '../types.js';
import { OverlayError } from '../../util/errors.js';
import { wrapAwsError } from './errors.js';
import { compareCodeUnits } from '../../util/compare.js';

/** Largest page DescribeInstances allows (MaxResults 5..1000): fewer calls against its throttle bucket. */
const PAGE_SIZE = 1000;
/** A guard against a NextToken loop (an API that keeps answering the same token): 1,000 pages of 1,000. */
const MAX_PAGES = 1000;

/**
 * The `ec2-tags` discovery source's describer over EC2's Query API: DescribeInstances filtered by
 * `tag:<key>` = value for every tag and by `instance-state-name` = running, every page
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html). Needs
 * `ec2:DescribeInstances`, which IAM grants only on `Resource: "*"`.
 *
 * Errors are wrapped once here (`wrapAwsError`: CLOUD_THROTTLED, CLOUD_UNAUTHORIZED...); the
 * source reports them as its health and keeps the last good snapshot.
 */
export class Ec2InstancesApi implements InstanceDescriber {
  readonly #pageSize: number;

  /** @param options.pageSize MaxResults of each page (5..1000). @default 1000 */
  constructor(private readonly client: Ec2QueryClient, options: { readonly pageSize?: number } = {}) {
    this.#pageSize = options.pageSize ?? PAGE_SIZE;
  }

  async describeInstancesByTags(tags: Readonly<Record<string, string>>, options: { readonly signal: AbortSignal }): Promise<readonly InstanceSummary[]> {
    const filters: Ec2Filter[] = [
      ...Object.entries(tags).sort(([a], [b]) => compareCodeUnits(a, b)).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
      // Only running instances serve; the source filters by state again (EC2 may be eventually consistent).
      { Name: 'instance-state-name', Values: ['running'] },
    ];
    const out: InstanceSummary[] = [];
    let nextToken: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await this.client.call('DescribeInstances', { ...filterParams(filters), MaxResults: String(this.#pageSize), ...(nextToken === undefined ? {} : { NextToken: nextToken }) }, options.signal);
        for (const reservation of xmlItems(res, 'reservationSet')) {
          for (const i of xmlItems(reservation, 'instancesSet')) {
            const instanceId = xmlText(i, 'instanceId');
            if (instanceId === undefined || instanceId === '') continue;
            const privateIp = xmlText(i, 'privateIpAddress');
            out.push({ instanceId, state: xmlText(xmlChild(i, 'instanceState'), 'name') ?? 'unknown', ...(privateIp === undefined || privateIp === '' ? {} : { privateIp }) });
          }
        }
        const token = xmlText(res, 'nextToken');
        nextToken = token === undefined || token === '' ? undefined : token;
        if (nextToken === undefined) return out;
      }
    } catch (err) {
      throw wrapAwsError(err, 'DescribeInstances', options.signal);
    }
    throw new OverlayError('CLOUD_UNAVAILABLE', `DescribeInstances: more than ${MAX_PAGES} pages (the API kept answering a NextToken)`, { details: { action: 'DescribeInstances' } });
  }
}
