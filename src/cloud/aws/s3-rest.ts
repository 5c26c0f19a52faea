/**
 * The agent's S3 client: GetObject (conditional, or of one version) and PutObject of small
 * objects, S3's REST API over aws-http.ts, for the node's side of the release bucket
 * (provision/release-follow.ts).
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 *
 * Addressing as the AWS SDK does it: at AWS's endpoint a bucket whose name is a DNS label without
 * dots is addressed virtual-hosted (`bucket.s3.region.amazonaws.com`), any other path-style; at a
 * configured endpoint (a VPC endpoint, the lab) always path-style.
 */
import { parseXml, xmlText, type XmlElement } from '../../util/xml.js';
import { AwsApiError, AwsHttpClient, serviceEndpoint, type AwsHttpResponse, type CredentialSource } from './aws-http.js';
import { encodeRfc3986 } from './sigv4-sign.js';

/** The largest object read (the release's spec, pointers, statuses are far smaller). */
const MAX_OBJECT_BYTES = 64 * 1024 * 1024;

/** What S3 names an error answer without a body (HEAD, 304, some proxies), by its status. */
const STATUS_CODES: Readonly<Record<number, string>> = { 304: 'NotModified', 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 412: 'PreconditionFailed' };

/** Reads S3's error document (`<Error><Code>...`) into an AwsApiError; without one, names the status. */
export function s3ErrorFromAnswer(status: number, body: string, requestIdHeader: string | undefined): AwsApiError {
  let root: XmlElement | undefined;
  try {
    root = body.trim() === '' ? undefined : parseXml(body);
  } catch {
    root = undefined;
  }
  const code = root?.name === 'Error' ? xmlText(root, 'Code') : undefined;
  const requestId = xmlText(root, 'RequestId') ?? requestIdHeader;
  if (code === undefined || code === '') {
    const named = STATUS_CODES[status] ?? (status >= 500 ? 'InternalError' : 'UnknownError');
    return new AwsApiError(named, `S3 answered HTTP ${status}${body.trim() === '' ? '' : ` without an S3 error document: ${body.slice(0, 200).replace(/\s+/g, ' ')}`}`, status, requestId);
  }
  return new AwsApiError(code, xmlText(root, 'Message') ?? '', status, requestId);
}

/** True when AWS's endpoint can address `bucket` as a host name (a DNS label, no dots: TLS's wildcard covers one label). */
export function virtualHostable(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket);
}

/** The object's path: each segment of the key RFC 3986-encoded, its slashes kept. */
function keyPath(key: string): string {
  return key.split('/').map((s) => encodeRfc3986(s)).join('/');
}

/**
 * Where an object is: virtual-hosted (`bucket.` before the endpoint's host) unless `pathStyle`
 * or the bucket cannot be a host name, else path-style (`/bucket/key`).
 */
export function objectAddress(endpoint: URL, pathStyle: boolean, bucket: string, key: string): { endpoint: URL; path: string } {
  if (!pathStyle && virtualHostable(bucket)) {
    const hosted = new URL(endpoint.href);
    hosted.hostname = `${bucket}.${endpoint.hostname}`;
    return { endpoint: hosted, path: `/${keyPath(key)}` };
  }
  return { endpoint, path: `/${encodeRfc3986(bucket)}/${keyPath(key)}` };
}

/** S3 in one region, at AWS's endpoint or a configured one. */
export class S3RestClient {
  readonly #http: AwsHttpClient;
  readonly #endpoint: URL;
  /** A configured endpoint (not AWS's regional one): path-style only. */
  readonly #configured: boolean;

  constructor(options: { readonly region: string; readonly endpoint?: string; readonly credentials: CredentialSource }) {
    this.#endpoint = serviceEndpoint('s3', options.region, options.endpoint);
    this.#configured = this.#endpoint.href !== serviceEndpoint('s3', options.region, undefined, {}).href;
    this.#http = new AwsHttpClient({ service: 's3', region: options.region, credentials: options.credentials });
  }

  async #send(method: 'GET' | 'PUT', bucket: string, key: string, init: { query?: Record<string, string>; headers?: Record<string, string>; body?: string; signal: AbortSignal }): Promise<AwsHttpResponse> {
    const res = await this.#http.send({
      method, ...objectAddress(this.#endpoint, this.#configured, bucket, key), s3: true, signal: init.signal,
      ...(init.query === undefined ? {} : { query: init.query }), ...(init.headers === undefined ? {} : { headers: init.headers }), ...(init.body === undefined ? {} : { body: init.body }),
    }, { maxBytes: MAX_OBJECT_BYTES });
    if (res.status < 200 || res.status >= 300) {
      const requestId = res.headers['x-amz-request-id'];
      throw s3ErrorFromAnswer(res.status, res.body.toString('utf8'), typeof requestId === 'string' ? requestId : undefined);
    }
    return res;
  }

  /**
   * GetObject: the body as text and its ETag. `ifNoneMatch` makes it conditional (an unchanged
   * object rejects with `NotModified`, status 304); `versionId` reads one version.
   */
  async getObject(input: { readonly bucket: string; readonly key: string; readonly versionId?: string; readonly ifNoneMatch?: string }, signal: AbortSignal): Promise<{ etag: string; body: string }> {
    const res = await this.#send('GET', input.bucket, input.key, {
      signal, ...(input.versionId === undefined ? {} : { query: { versionId: input.versionId } }),
      ...(input.ifNoneMatch === undefined ? {} : { headers: { 'if-none-match': input.ifNoneMatch } }),
    });
    const etag = res.headers.etag;
    return { etag: typeof etag === 'string' ? etag : '', body: res.body.toString('utf8') };
  }

  /** PutObject of a text body, with a content type and user metadata (`x-amz-meta-<name>`). */
  async putObject(input: { readonly bucket: string; readonly key: string; readonly body: string; readonly contentType: string; readonly metadata?: Readonly<Record<string, string>> }, signal: AbortSignal): Promise<void> {
    const headers: Record<string, string> = { 'content-type': input.contentType };
    for (const [name, value] of Object.entries(input.metadata ?? {})) headers[`x-amz-meta-${name.toLowerCase()}`] = value;
    await this.#send('PUT', input.bucket, input.key, { headers, body: input.body, signal });
  }

  destroy(): void {
    this.#http.destroy();
  }
}
