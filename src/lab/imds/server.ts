/**
 * The lab's instance metadata service (IMDSv2), identifying the instance by the caller's source
 * address. Session tokens come from `PUT /latest/api/token` with a TTL of 1-21600 seconds; with
 * requireV2 every GET without a valid token is refused with 401, as an instance with
 * `HttpTokens=required` does.
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SystemError } from '../../util/errors.js';
import type { LabInstanceIdentity } from '../ec2/state.js';

export type { LabInstanceIdentity } from '../ec2/state.js';

export interface ImdsOptions {
  /** `169.254.169.254` inside the lab, `127.0.0.1` in tests. */
  readonly host: string;
  /** 80 in the lab, 0 (a free port) in tests. */
  readonly port: number;
  readonly signal: AbortSignal;
  /** The instance behind a caller's address (the lab maps private addresses to instances). */
  resolveInstance(remoteAddress: string): LabInstanceIdentity | undefined;
  /**
   * Refuse IMDSv1 (token-less) GETs with 401 for instances that do not say otherwise (an instance's
   * own `httpTokens`, from RunInstances' MetadataOptions, wins).
   */
  readonly requireV2: boolean;
  /** Milliseconds since the epoch, for token expiry. @default Date.now */
  readonly clock?: () => number;
}

export interface Imds {
  readonly url: string;
  close(): Promise<void>;
  /**
   * Serves one more connection accepted elsewhere (the lab relays instances' connections over a
   * unix socket with a PROXY header, see src/lab/netns-relay.ts); its `remoteAddress` identifies
   * the instance.
   */
  acceptConnection(stream: Duplex): void;
}

/** The header of the token PUT's request and answer (its answer alone carries it: src/lab/imds/hop-limit.ts matches it). */
export const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
const MAX_TTL_SECONDS = 21600;

function plainAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/, '');
}

const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The metadata tree of one instance: path (after /latest/) -> text, or a directory listing.
 * Directories end with `/` and list their children one per line, as IMDS does.
 */
function metadataTree(identity: LabInstanceIdentity): Map<string, () => string> {
  const tree = new Map<string, () => string>();
  const file = (path: string, value: () => string): void => {
    tree.set(path, value);
  };
  file('meta-data/instance-id', () => identity.instanceId);
  file('meta-data/ami-id', () => identity.imageId);
  file('meta-data/instance-type', () => identity.instanceType);
  file('meta-data/mac', () => identity.mac);
  file('meta-data/local-ipv4', () => identity.privateIp);
  file('meta-data/local-hostname', () => `ip-${identity.privateIp.replaceAll('.', '-')}.${identity.region}.compute.internal`);
  file('meta-data/placement/availability-zone', () => identity.availabilityZone);
  file('meta-data/placement/region', () => identity.region);
  for (const nic of identity.interfaces) {
    const base = `meta-data/network/interfaces/macs/${nic.mac}`;
    file(`${base}/interface-id`, () => nic.networkInterfaceId);
    file(`${base}/mac`, () => nic.mac);
    file(`${base}/local-ipv4s`, () => nic.privateIp);
    file(`${base}/subnet-id`, () => nic.subnetId);
    file(`${base}/vpc-id`, () => nic.vpcId);
    file(`${base}/subnet-ipv4-cidr-block`, () => nic.subnetCidr);
    file(`${base}/vpc-ipv4-cidr-block`, () => nic.vpcCidr);
    file(`${base}/device-number`, () => String(nic.deviceIndex));
  }
  const credentials = identity.credentials;
  if (identity.roleName !== null && credentials !== null) {
    file(`meta-data/iam/security-credentials/${identity.roleName}`, () => {
      const c = credentials();
      return JSON.stringify({
        Code: 'Success', LastUpdated: isoSeconds(c.expiration - 6 * 3600_000), Type: 'AWS-HMAC',
        AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, Token: c.sessionToken, Expiration: isoSeconds(c.expiration),
      }, null, 2);
    });
  }
  if (identity.userData !== undefined && identity.userData !== null) {
    const data = identity.userData;
    file('user-data', () => Buffer.from(data, 'base64').toString('utf8'));
  }
  for (const [key, value] of Object.entries(identity.tags ?? {})) {
    // IMDS serves a tag only when its key is a valid path segment.
    if (/^[A-Za-z0-9+\-=._:@]+$/.test(key)) file(`meta-data/tags/instance/${key}`, () => value);
  }
  file('dynamic/instance-identity/document', () => JSON.stringify({
    accountId: identity.accountId, architecture: 'x86_64', availabilityZone: identity.availabilityZone, imageId: identity.imageId,
    instanceId: identity.instanceId, instanceType: identity.instanceType, pendingTime: isoSeconds(identity.launchTime),
    privateIp: identity.privateIp, region: identity.region, version: '2017-09-30',
  }, null, 2));
  // Directory listings, derived from the files.
  const dirs = new Map<string, Set<string>>();
  for (const path of [...tree.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const dir = `${parts.slice(0, i).join('/')}/`;
      const child = i === parts.length - 1 ? parts[i]! : `${parts[i]!}/`;
      const set = dirs.get(dir) ?? new Set<string>();
      set.add(child);
      dirs.set(dir, set);
    }
  }
  for (const [dir, children] of dirs) tree.set(dir, () => [...children].join('\n'));
  return tree;
}

/**
 * Serve IMDS until `signal` aborts or close() is called.
 * @throws SystemError LAB_LISTEN when the address cannot be bound.
 */
export async function startImds(options: ImdsOptions): Promise<Imds> {
  const clock = options.clock ?? Date.now;
  /** token -> expiry (ms); tokens are bound to the instance that asked for them. */
  const tokens = new Map<string, { expires: number; instanceId: string }>();
  const sockets = new Set<Socket>();

  const reply = (res: ServerResponse, status: number, body: string, contentType = 'text/plain'): void => {
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), server: 'EC2ws' });
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const identity = options.resolveInstance(plainAddress(req.socket.remoteAddress));
    const path = (req.url ?? '/').split('?')[0]!;
    if (identity === undefined) return reply(res, 404, 'Not Found');
    // MetadataOptions.HttpEndpoint=disabled: the instance gets no metadata service at all.
    if (identity.httpEndpoint === 'disabled') {
      req.socket.destroy();
      return undefined;
    }
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return reply(res, 405, 'Method Not Allowed');
      // Requests forwarded through a proxy are refused, as IMDS does (X-Forwarded-For present).
      if (req.headers['x-forwarded-for'] !== undefined) return reply(res, 403, 'Forbidden');
      const ttlText = req.headers[TOKEN_TTL_HEADER];
      const ttl = typeof ttlText === 'string' && /^\d+$/.test(ttlText) ? Number(ttlText) : NaN;
      if (!(ttl >= 1 && ttl <= MAX_TTL_SECONDS)) return reply(res, 400, 'Bad Request');
      const token = randomBytes(42).toString('base64url');
      const now = clock();
      for (const [t, entry] of tokens) if (entry.expires <= now) tokens.delete(t);
      tokens.set(token, { expires: now + ttl * 1000, instanceId: identity.instanceId });
      res.setHeader(TOKEN_TTL_HEADER, String(ttl));
      return reply(res, 200, token);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'Method Not Allowed');
    const tokenText = req.headers[TOKEN_HEADER];
    if (typeof tokenText === 'string') {
      const entry = tokens.get(tokenText);
      if (entry === undefined || entry.expires <= clock() || entry.instanceId !== identity.instanceId) return reply(res, 401, 'Unauthorized');
    } else if (identity.httpTokens === 'required' || (identity.httpTokens === undefined && options.requireV2)) {
      return reply(res, 401, 'Unauthorized');
    }
    if (!path.startsWith('/latest/')) return reply(res, 404, 'Not Found');
    const tree = metadataTree(identity);
    const key = path.slice('/latest/'.length);
    const value = tree.get(key) ?? (key.endsWith('/') ? undefined : tree.get(`${key}/`));
    if (value === undefined) return reply(res, 404, 'Not Found');
    const body = value();
    return reply(res, 200, body, body.startsWith('{') ? 'application/json' : 'text/plain');
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch {
      if (!res.headersSent) reply(res, 500, 'Internal Server Error');
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause) => reject(new SystemError('LAB_LISTEN', `the lab IMDS cannot listen on ${options.host}:${options.port}: ${cause.message}; pick another address or port`, { cause })));
    server.listen({ host: options.host, port: options.port, signal: options.signal }, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closed;
  };
  options.signal.addEventListener('abort', () => void close(), { once: true });
  return { url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`, close, acceptConnection: (stream) => void server.emit('connection', stream) };
}
