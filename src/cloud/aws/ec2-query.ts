/**
 * The agent's EC2 client: EC2's Query protocol (a signed form POST, an XML answer) for the few
 * actions the agent calls, over aws-http.ts.
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
 *
 * No retries of its own: the claim loop retries through its token bucket and deadline, so
 * throttling is never retried twice (the SDK client it replaces had `maxAttempts: 1` too).
 */
import { parseXml, xmlChild, xmlText, type XmlElement } from '../../util/xml.js';
import { AwsApiError, AwsHttpClient, serviceEndpoint, type CredentialSource } from './aws-http.js';
import { canonicalQueryString } from './sigv4-sign.js';

/** The EC2 API version every action is called with (the current and only one). */
export const EC2_API_VERSION = '2016-11-15';

export interface Ec2ClientOptions {
  readonly region: string;
  /** The lab's EC2-compatible API, or a VPC endpoint. @default AWS's regional endpoint */
  readonly endpoint?: string;
  /** Fixed keys (tests), or a provider (the agent: the instance role's, from its IMDSv2 client). */
  readonly credentials: CredentialSource;
}

/** An EC2 filter: `Name` and its `Values` (any of them matches). */
export interface Ec2Filter {
  readonly Name: string;
  readonly Values: readonly string[];
}

/** Query parameters for EC2's list shapes: `Filter.1.Name`, `Filter.1.Value.1`... */
export function filterParams(filters: readonly Ec2Filter[]): Record<string, string> {
  const out: Record<string, string> = {};
  filters.forEach((f, i) => {
    out[`Filter.${i + 1}.Name`] = f.Name;
    f.Values.forEach((v, j) => { out[`Filter.${i + 1}.Value.${j + 1}`] = v; });
  });
  return out;
}

/** `Name.1`, `Name.2`... for a list of strings (`ResourceId.1`, `AllocationId.1`). */
export function listParams(name: string, values: readonly string[]): Record<string, string> {
  return Object.fromEntries(values.map((v, i) => [`${name}.${i + 1}`, v]));
}

/** Reads EC2's error document (`<Response><Errors><Error><Code>...`) into an AwsApiError. */
export function ec2ErrorFromAnswer(status: number, body: string, action: string): AwsApiError {
  let root: XmlElement | undefined;
  try {
    root = parseXml(body);
  } catch {
    root = undefined;
  }
  const error = xmlChild(xmlChild(root, 'Errors'), 'Error');
  const code = xmlText(error, 'Code');
  const requestId = xmlText(root, 'RequestID') ?? xmlText(root, 'RequestId');
  if (code === undefined || code === '') {
    const excerpt = body.slice(0, 200).replace(/\s+/g, ' ');
    return new AwsApiError(status >= 500 ? 'InternalError' : 'UnknownError', `${action} answered HTTP ${status} without an EC2 error document${excerpt === '' ? '' : `: ${excerpt}`}`, status, requestId);
  }
  return new AwsApiError(code, xmlText(error, 'Message') ?? '', status, requestId);
}

/** EC2's Query API for one region and endpoint. */
export class Ec2QueryClient {
  readonly #http: AwsHttpClient;
  readonly #endpoint: URL;

  constructor(options: Ec2ClientOptions) {
    this.#endpoint = serviceEndpoint('ec2', options.region, options.endpoint);
    this.#http = new AwsHttpClient({ service: 'ec2', region: options.region, credentials: options.credentials });
  }

  /**
   * Calls `action` with `params` and returns the answer's root element. Rejects with an
   * AwsApiError for EC2's error answers (and for an answer that is not XML), else with the
   * transport's error or the abort.
   */
  async call(action: string, params: Readonly<Record<string, string>>, signal: AbortSignal): Promise<XmlElement> {
    const body = canonicalQueryString({ Action: action, Version: EC2_API_VERSION, ...params });
    const res = await this.#http.send({
      method: 'POST', endpoint: this.#endpoint, path: '/', body, signal,
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    });
    const text = res.body.toString('utf8');
    if (res.status < 200 || res.status >= 300) throw ec2ErrorFromAnswer(res.status, text, action);
    try {
      return parseXml(text);
    } catch (err) {
      throw new AwsApiError('InternalError', `${action} answered HTTP ${res.status} with a body that is not XML (${(err as Error).message})`, res.status, undefined);
    }
  }

  destroy(): void {
    this.#http.destroy();
  }
}

/** The agent's EC2 client (the name the SDK-based one had). */
export function createEc2Client(options: Ec2ClientOptions): Ec2QueryClient {
  return new Ec2QueryClient(options);
}
