import { OverlayError, SystemError } from '../../util/errors.js';
import { retry } from '../../util/retry.js';
import { systemClock } from '../../util/clock.js';
import type { Clock } from '../../util/clock.js';
import type { InstanceIdentity } from '../types.js';
import { httpRequest } from '../../util/http-request.js';

export interface ImdsClientOptions {
  /** @default http://169.254.169.254 */
  readonly endpoint?: string;
  /** Session token lifetime asked for. @default 21600 (6 h, the maximum) */
  readonly tokenTtlSeconds?: number;
  /** Per request. @default 1000 */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

/**
 * An IMDSv2-only client (no IMDSv1 fallback): a session token from `PUT /latest/api/token`,
 * cached and renewed a minute before it expires, sent on every GET; every call retried with
 * backoff until the caller's deadline.
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html
 */
export class ImdsClient {
  readonly #endpoint: string;
  readonly #ttl: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #token: { value: string; expiresAt: number } | null = null;

  constructor(options: ImdsClientOptions = {}) {
    this.#endpoint = (options.endpoint ?? 'http://169.254.169.254').replace(/\/$/, '');
    this.#ttl = options.tokenTtlSeconds ?? 21600;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#clock = options.clock ?? systemClock;
  }

  /** GET a metadata path (after /latest/), for example `meta-data/instance-id`. */
  async get(path: string, options: { signal: AbortSignal; deadlineMs?: number }): Promise<string> {
    return retry(async () => {
      const token = await this.#sessionToken(options.signal);
      const res = await this.#request('GET', `/latest/${path}`, { 'x-aws-ec2-metadata-token': token }, options.signal);
      if (res.status === 401) {
        this.#token = null; // expired or revoked: fetch a new one on the retry
        throw new SystemError('CLOUD_UNAVAILABLE', `IMDS refused the session token for ${path} (401)`, { retryable: true });
      }
      if (res.status === 404) throw new SystemError('CLOUD_NOT_FOUND', `IMDS has no ${path} (404): is this an EC2 instance with that metadata?`);
      if (res.status !== 200) throw new SystemError('CLOUD_UNAVAILABLE', `IMDS answered ${res.status} for ${path}`, { retryable: true });
      return res.text.trim();
    }, { signal: options.signal, deadline: this.#clock.now() + (options.deadlineMs ?? 10_000), baseMs: 100, maxMs: 1000, clock: this.#clock });
  }

  /** Who this node is; the ENI is the one whose address is `nodeAddress` (the spec's node address). */
  async identity(nodeAddress: string, options: { signal: AbortSignal; deadlineMs?: number }): Promise<InstanceIdentity> {
    const instanceId = await this.get('meta-data/instance-id', options);
    const availabilityZone = await this.get('meta-data/placement/availability-zone', options);
    const region = await this.get('meta-data/placement/region', options).catch((err: unknown) => {
      if (err instanceof OverlayError && err.code === 'CLOUD_NOT_FOUND') return availabilityZone.replace(/[a-z]$/, '');
      throw err;
    });
    const macs = (await this.get('meta-data/network/interfaces/macs/', options)).split('\n').map((m) => m.replace(/\/$/, '').trim()).filter((m) => m !== '');
    for (const mac of macs) {
      const ips = (await this.get(`meta-data/network/interfaces/macs/${mac}/local-ipv4s`, options)).split('\n').map((s) => s.trim());
      if (ips.includes(nodeAddress)) {
        const networkInterfaceId = await this.get(`meta-data/network/interfaces/macs/${mac}/interface-id`, options);
        return { instanceId, region, availabilityZone, networkInterfaceId, privateIp: nodeAddress };
      }
    }
    throw new OverlayError('CLOUD_NOT_FOUND', `no network interface of instance ${instanceId} holds ${nodeAddress} (interfaces: ${macs.join(', ') || 'none'}); the spec's node address must be one of this instance's private addresses`);
  }

  /**
   * The instance role's temporary credentials, as a credential provider (for the agent's clients,
   * aws-http.ts, or the AWS SDK's): the client calls it again when `expiration` nears, so
   * credentials rotate without a restart.
   */
  roleCredentials(options: { signal: AbortSignal }): () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string; expiration: Date }> {
    return async () => {
      const role = (await this.get('meta-data/iam/security-credentials/', options)).split('\n')[0]?.trim();
      if (!role) throw new OverlayError('CLOUD_AUTH_FAILURE', 'this instance has no IAM role (IMDS lists no security credentials); attach the overlay-lb node role');
      const doc = JSON.parse(await this.get(`meta-data/iam/security-credentials/${role}`, options)) as { AccessKeyId?: string; SecretAccessKey?: string; Token?: string; Expiration?: string };
      if (!doc.AccessKeyId || !doc.SecretAccessKey || !doc.Token || !doc.Expiration) throw new SystemError('CLOUD_AUTH_FAILURE', `IMDS returned incomplete credentials for role ${role}`);
      return { accessKeyId: doc.AccessKeyId, secretAccessKey: doc.SecretAccessKey, sessionToken: doc.Token, expiration: new Date(doc.Expiration) };
    };
  }

  async #sessionToken(signal: AbortSignal): Promise<string> {
    const now = this.#clock.now();
    if (this.#token && this.#token.expiresAt - 60_000 > now) return this.#token.value;
    const res = await this.#request('PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': String(this.#ttl) }, signal);
    if (res.status !== 200) throw new SystemError('CLOUD_UNAVAILABLE', `IMDS token request answered ${res.status}`, { retryable: res.status >= 500 || res.status === 429 });
    const value = res.text.trim();
    this.#token = { value, expiresAt: now + this.#ttl * 1000 };
    return value;
  }

  /** One request to IMDS on a connection of its own (node:http, not fetch: see httpRequest). */
  async #request(method: 'GET' | 'PUT', path: string, headers: Record<string, string>, signal: AbortSignal): Promise<{ status: number; text: string }> {
    try {
      return await httpRequest({ url: `${this.#endpoint}${path}` }, { method, headers, signal, timeoutMs: this.#timeoutMs });
    } catch (err) {
      if (signal.aborted) throw err;
      throw new SystemError('CLOUD_UNAVAILABLE', `IMDS at ${this.#endpoint} could not be reached: ${(err as Error).message}`, { cause: err, retryable: true });
    }
  }
}
