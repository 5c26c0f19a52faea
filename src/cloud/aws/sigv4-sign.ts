/**
 * Signing of AWS requests, Signature Version 4 in the Authorization header, for the agent's own
 * small EC2 and S3 clients (src/cloud/aws/aws-http.ts).
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 *
 * Tested against the AWS SDK's own signer (@smithy/signature-v4) on the same requests, and
 * verified by the lab's API on every call the tests make.
 */
import { createHash, createHmac } from 'node:crypto';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** SHA-256 of the empty payload (GET requests). */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 percent-encoding, as SigV4 and the Query protocol want it (unreserved characters kept). */
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `20261207T031500Z` */
export function amzDate(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

export interface SignInput {
  readonly method: string;
  /** The path as sent, each segment already percent-encoded (RFC 3986). */
  readonly path: string;
  /** Query parameters, not encoded. */
  readonly query?: Readonly<Record<string, string>>;
  /**
   * Every header to send and sign, names in lower case; must include `host` exactly as sent.
   * `x-amz-date` and `x-amz-security-token` are added here.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body (S3 sends it as `x-amz-content-sha256` too). */
  readonly payloadHash: string;
  readonly service: string;
  readonly region: string;
  readonly credentials: AwsCredentials;
  readonly now: Date;
  /**
   * S3 signs the path as sent (encoded once); every other service signs it encoded again.
   * @default false
   */
  readonly s3?: boolean;
}

/** The canonical query string: every name and value RFC 3986-encoded, sorted by name then value. */
export function canonicalQueryString(query: Readonly<Record<string, string>> | undefined): string {
  if (query === undefined) return '';
  return Object.entries(query)
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** The headers to send: the input's, `x-amz-date`, the session token if any, and `authorization`. */
export function signRequest(input: SignInput): Record<string, string> {
  const date = amzDate(input.now);
  const day = date.slice(0, 8);
  const headers: Record<string, string> = { ...input.headers, 'x-amz-date': date };
  if (input.credentials.sessionToken !== undefined && input.credentials.sessionToken !== '') headers['x-amz-security-token'] = input.credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((name) => `${name}:${headers[name]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const uri = input.s3 === true ? input.path : input.path.split('/').map((s) => encodeRfc3986(s)).join('/');
  const canonicalRequest = [input.method.toUpperCase(), uri === '' ? '/' : uri, canonicalQueryString(input.query), canonicalHeaders, names.join(';'), input.payloadHash].join('\n');
  const scope = `${day}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${input.credentials.secretAccessKey}`, day), input.region), input.service), 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}
