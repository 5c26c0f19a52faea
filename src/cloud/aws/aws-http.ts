/**
 * The transport of the agent's own AWS clients (EC2's Query API: ec2-query.ts; S3: s3-rest.ts):
 * one signed HTTP/1.1 request with `node:http` or `node:https`, connections kept alive for a
 * while, the instance role's credentials cached until shortly before they expire.
 *
 * Why not the AWS SDK: the agent makes about ten kinds of calls, and the SDK's clients, even
 * bundled and tree-shaken, cost a long-running agent about 17 MiB of resident memory and a share
 * of the master's CPU on every re-check (docs/BENCHMARKS.md, "Agent footprint"; issue 17 item 7).
 * The CLI's provisioning keeps the SDK. Not `fetch` either (src/util/http-request.ts says why).
 */
import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage, RequestOptions } from 'node:http';
import { systemClock, type Clock } from '../../util/clock.js';
import { untilAborted } from '../../util/abort.js';
import { OverlayError } from '../../util/errors.js';
import { readAnswer } from '../../util/http-request.js';
import { canonicalQueryString, signRequest, sha256Hex, type AwsCredentials } from './sigv4-sign.js';

/** A credential source: fixed keys, or a provider (the instance role's, from IMDSv2). */
export type CredentialSource = AwsCredentials | (() => Promise<AwsCredentials>);

/** Credentials are fetched again this long before they expire (the SDK's window too). */
const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
/** An idle kept-alive connection is closed after this (the master re-checks every 10 s). */
const FREE_SOCKET_TIMEOUT_MS = 15_000;
/** An answer's Date header this far from this node's clock sets the clock offset (AWS refuses 5 min). */
const CLOCK_SKEW_CORRECTION_MS = 4 * 60_000;
/** An answer longer than this is refused (EC2's largest page of our calls is far smaller). */
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/** An answer: status, headers (names in lower case) and the whole body. */
export interface AwsHttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface AwsHttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** The endpoint's origin and base path, as configured (`https://ec2.eu-west-1.amazonaws.com`). */
  readonly endpoint: URL;
  /** The path after the endpoint's, each segment already RFC 3986-encoded; starts with `/`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Headers to send and sign, names in lower case (not host, date or authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** S3's signing rules, and `x-amz-content-sha256` sent. @default false */
  readonly s3?: boolean;
  readonly signal: AbortSignal;
}

/** An AWS service's endpoint: `explicit`, else `AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL` (as the SDKs do), else AWS's regional one. */
export function serviceEndpoint(service: 'ec2' | 's3', region: string, explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): URL {
  const configured = explicit ?? env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`] ?? env.AWS_ENDPOINT_URL;
  const text = configured !== undefined && configured !== '' ? configured : `https://${service}.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`the ${service} endpoint "${text}" is not a URL; give an http:// or https:// URL such as https://${service}.${region}.amazonaws.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`the ${service} endpoint "${text}" is not http:// or https://`);
  return url;
}

/**
 * One request: resolves with the whole answer, rejects with the transport's error (marked
 * `reusedSocket` when it came on a kept-alive connection), the abort, or an answer over `maxBytes`.
 */
function requestOnce(url: URL, options: RequestOptions, body: string | Buffer | undefined, maxBytes: number): Promise<AwsHttpResponse> {
  // `node:https` only for https endpoints (AWS's): the lab's plain HTTP never loads TLS.
  const { request } = url.protocol === 'https:' ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res: IncomingMessage) => {
      readAnswer(res, maxBytes).then((answer) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: answer }), reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A kept-alive connection the server closed just as we sent: safe to send once more.
      (err as { reusedSocket?: boolean }).reusedSocket = req.reusedSocket;
      reject(err);
    });
    req.end(body);
  });
}

/** Signs and sends AWS requests for one service in one region. */
export class AwsHttpClient {
  readonly #service: string;
  readonly #region: string;
  readonly #source: CredentialSource;
  readonly #clock: Clock;
  #cached: AwsCredentials | undefined;
  #pending: Promise<AwsCredentials> | undefined;
  #agents = new Map<string, HttpAgent>();
  #offsetMs = 0;

  constructor(options: { readonly service: string; readonly region: string; readonly credentials: CredentialSource; readonly clock?: Clock }) {
    this.#service = options.service;
    this.#region = options.region;
    this.#source = options.credentials;
    this.#clock = options.clock ?? systemClock;
  }

  /** The credentials to sign with: fixed ones, or the provider's, fetched again near their expiry. */
  async credentials(): Promise<AwsCredentials> {
    const source = this.#source;
    if (typeof source !== 'function') return source;
    const cached = this.#cached;
    if (cached !== undefined && (cached.expiration === undefined || cached.expiration.getTime() - REFRESH_BEFORE_EXPIRY_MS > this.#clock.now())) return cached;
    this.#pending ??= source().then(
      (c) => { this.#cached = c; this.#pending = undefined; return c; },
      (err: unknown) => { this.#pending = undefined; throw err; },
    );
    return this.#pending;
  }

  #agent(url: URL): HttpAgent {
    const key = url.protocol;
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      const { Agent } = url.protocol === 'https:' ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http');
      // `timeout` closes a kept-alive connection idle for that long (Node's agent destroys it).
      agent = new Agent({ keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS, maxFreeSockets: 16 });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /**
   * Sends one signed request and returns the answer, whatever its status. Rejects with the
   * transport's error or the abort (Node's AbortError). A request that fails because a kept-alive
   * connection was closed under it is sent once more on a new one; so is one refused because this
   * node's clock is off (see {@link AwsHttpClient.clockOffsetMs}).
   */
  async send(request: AwsHttpRequest, options: { readonly maxBytes?: number } = {}): Promise<AwsHttpResponse> {
    // The call's signal bounds the credential lookup too (a slow IMDS must not outlast the call).
    const credentials = await untilAborted(this.credentials(), request.signal);
    if (credentials === undefined) {
      const reason: unknown = request.signal.reason;
      throw new OverlayError('CLOUD_UNAVAILABLE', `${this.#service}: no credentials before the call was aborted (${reason instanceof Error ? reason.message : 'aborted'}): the credential source (the instance role's, from IMDS) did not answer in time`, { cause: reason });
    }
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const res = await this.#attempt(request, credentials, maxBytes);
    // AWS refuses a signature more than 5 minutes off its clock. Like the SDKs, sign with the
    // API's time (its Date header) once this node's clock is found that far off, and send again
    // a request it refused for it (nothing was done: the signature was refused).
    const date = res.headers.date === undefined ? NaN : Date.parse(res.headers.date);
    const skew = Number.isNaN(date) ? 0 : date - (this.#clock.now() + this.#offsetMs);
    if (Math.abs(skew) < CLOCK_SKEW_CORRECTION_MS) return res;
    this.#offsetMs += skew;
    return res.status >= 400 && res.status < 500 && !request.signal.aborted ? this.#attempt(request, credentials, maxBytes) : res;
  }

  /**
   * How far this client signs ahead of this node's clock (ms): 0 unless an answer's Date header
   * was more than 4 minutes off it, then that difference (AWS allows 5).
   */
  get clockOffsetMs(): number {
    return this.#offsetMs;
  }

  async #attempt(request: AwsHttpRequest, credentials: AwsCredentials, maxBytes: number): Promise<AwsHttpResponse> {
    const base = request.endpoint.pathname.replace(/\/$/, '');
    const path = `${base}${request.path}`;
    const url = new URL(request.endpoint.origin);
    url.pathname = path;
    url.search = canonicalQueryString(request.query);
    const body = request.body ?? '';
    const payloadHash = sha256Hex(body);
    const unsigned: Record<string, string> = { ...request.headers, host: url.host }; // the port only when not the scheme's default, as Node sends it
    if (request.s3 === true) unsigned['x-amz-content-sha256'] = payloadHash;
    const headers = signRequest({
      method: request.method, path, ...(request.query === undefined ? {} : { query: request.query }), headers: unsigned, payloadHash,
      service: this.#service, region: this.#region, credentials, now: new Date(this.#clock.now() + this.#offsetMs), s3: request.s3 === true,
    });
    if (body.length > 0 || request.method !== 'GET') headers['content-length'] = String(Buffer.byteLength(body));
    const options: RequestOptions = { method: request.method, headers, agent: this.#agent(url), signal: request.signal };
    try {
      return await requestOnce(url, options, body, maxBytes);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
      if (e.reusedSocket === true && !request.signal.aborted && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return requestOnce(url, options, body, maxBytes);
      throw err;
    }
  }

  /** Closes every kept-alive connection. */
  destroy(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}

/**
 * An AWS API's error answer (or a malformed one), in the shape `wrapAwsError` (errors.ts) reads
 * from the SDK's errors: `name` and `Code` the AWS error code, the HTTP status and request id in
 * `$metadata`, `$fault` by the status.
 */
export class AwsApiError extends Error {
  readonly Code: string;
  readonly $metadata: { readonly httpStatusCode: number; readonly requestId?: string };
  readonly $fault: 'client' | 'server';

  constructor(code: string, message: string, status: number, requestId: string | undefined) {
    super(message);
    this.name = code;
    this.Code = code;
    this.$metadata = { httpStatusCode: status, ...(requestId === undefined || requestId === '' ? {} : { requestId }) };
    this.$fault = status >= 500 ? 'server' : 'client';
  }
}
