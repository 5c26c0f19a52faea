/**
 * The lab's AWS endpoint over HTTP: the EC2-compatible Query API, IAM's and S3's REST API (told
 * apart by the service the request is signed for), SigV4 checked against the lab credentials, the
 * caller's policy enforced, faults applied, actions answered in each service's XML.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { SystemError } from '../../util/errors.js';
import { createHash } from 'node:crypto';
import { IAM_ACTIONS, IAM_XMLNS, STS_ACTIONS, STS_XMLNS } from '../iam/actions.js';
import { iamErrors, iamSigV4Error } from '../iam/errors.js';
import { answerS3, s3OperationOf } from '../s3/api.js';
import { S3ApiError, s3Errors, s3SigV4Error } from '../s3/errors.js';
import { LabS3 } from '../s3/model.js';
import { ACTIONS as BASE_ACTIONS } from './actions.js';
import { INSTANCE_ACTIONS } from './instances.js';
import { Ec2ApiError, ec2Errors } from './errors.js';
import { ApiFaults } from './faults.js';
import { isAllowed, type LabCredential } from './policy.js';
import { QueryParams } from './query.js';
import { signingService, verifySigV4, verifySigV4Detailed } from './sigv4.js';
import type { LabCloud } from './state.js';
import { errorXml, queryErrorXml, queryResponseXml, responseXml, xmlDocument } from './xml.js';

export type { LabCredential } from './policy.js';

/** Every EC2 action the endpoint serves: the VPC's (actions.ts) and the instance lifecycle (instances.ts). */
const ACTIONS = { ...BASE_ACTIONS, ...INSTANCE_ACTIONS };

/** One answered request, for logs and tests. */
export interface Ec2ApiRequestLog {
  readonly requestId: string;
  readonly action: string | undefined;
  readonly principal: string | undefined;
  readonly remoteAddress: string;
  readonly status: number;
  readonly code: string | undefined;
  /** From the request's arrival to its answer, in ms (the server's share of a call's latency). */
  readonly ms: number;
}

export interface Ec2ApiOptions {
  readonly cloud: LabCloud;
  /** Address to listen on (`127.0.0.1` in tests, the router's address in the lab). */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Aborting closes the server. */
  readonly signal: AbortSignal;
  /** Static credentials (the lab admin, least-privilege test principals). Role credentials come from the cloud. */
  readonly credentials: readonly LabCredential[];
  /** Throttle from the start with EC2's bucket sizes ("always-on" mode). @default false */
  readonly throttling?: boolean;
  /** How latency faults wait; tests inject a recorder. @default node:timers/promises setTimeout */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Called once per answered request. */
  readonly onRequest?: (entry: Ec2ApiRequestLog) => void;
  /** The account's S3 (path-style on this endpoint). @default a new, empty LabS3 */
  readonly s3?: LabS3;
  /** The largest S3 request body accepted (EntityTooLarge above). @default 268435456 (256 MiB) */
  readonly s3MaxBodyBytes?: number;
}

export interface Ec2Api {
  /** `http://host:port/`, the `--endpoint-url`. */
  readonly url: string;
  close(): Promise<void>;
  readonly faults: ApiFaults;
  /** The S3 it serves. */
  readonly s3: LabS3;
  /**
   * Serves one more connection accepted elsewhere (the lab relays instances' connections over a
   * unix socket, see `acceptProxyConnection` in src/lab/netns-relay.ts); the stream's
   * `remoteAddress` is the caller's address for faults and logs.
   */
  acceptConnection(stream: Duplex): void;
}

const MAX_BODY_BYTES = 1 << 20;

/** Node gives IPv4 callers on a dual-stack socket as `::ffff:a.b.c.d`. */
function plainAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/, '');
}

async function readBody(req: IncomingMessage, options: { max: number; tooLarge: () => Error }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > options.max) throw options.tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Serve the cloud's EC2 API until `signal` aborts or close() is called.
 * @throws SystemError LAB_LISTEN when the address cannot be bound.
 */
export async function startEc2Api(options: Ec2ApiOptions): Promise<Ec2Api> {
  const { cloud } = options;
  const faults = new ApiFaults(cloud);
  if (options.throttling === true) faults.setThrottling({ enabled: true });
  const staticCredentials = new Map(options.credentials.map((c) => [c.accessKeyId, c]));
  const sleep = options.sleep ?? ((ms: number, signal: AbortSignal) => sleepFor(ms, undefined, { signal }));
  const closing = new AbortController();
  const sockets = new Set<Socket>();
  const s3 = options.s3 ?? new LabS3({ region: cloud.region, clock: cloud.clock });
  const s3MaxBodyBytes = options.s3MaxBodyBytes ?? 256 * 1024 * 1024;
  const findCredential = (id: string): LabCredential | undefined => staticCredentials.get(id) ?? cloud.findRoleCredential(id);

  const answer = (res: ServerResponse, status: number, body: string, requestId: string): void => {
    res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const startedAt = performance.now();
    const remoteAddress = plainAddress(req.socket.remoteAddress);
    const unreachable = faults.unreachableMode(remoteAddress);
    if (unreachable === 'drop') {
      req.socket.destroy();
      return;
    }
    if (unreachable === 'hang') return; // never answered; close() destroys the socket
    const skewedDate = faults.dateHeader();
    if (skewedDate !== undefined) res.setHeader('date', skewedDate);
    const requestId = randomUUID();
    let action: string | undefined;
    let principal: string | undefined;
    let status = 200;
    let code: string | undefined;
    const signedFor = signingService(req.rawHeaders);
    const service = signedFor === 'iam' || signedFor === 'sts' || signedFor === 's3' ? signedFor : 'ec2';
    const s3Unreachable = service === 's3' ? faults.s3UnreachableMode() : null;
    if (s3Unreachable === 'drop') {
      req.socket.destroy();
      return;
    }
    if (s3Unreachable === 'hang') return; // never answered; close() destroys the socket
    const query = service === 'sts' ? { actions: STS_ACTIONS, xmlns: STS_XMLNS, version: '2011-06-15' } : { actions: IAM_ACTIONS, xmlns: IAM_XMLNS, version: '2010-05-08' };
    try {
      const body = service === 's3'
        ? await readBody(req, { max: s3MaxBodyBytes, tooLarge: () => s3Errors.entityTooLarge(s3MaxBodyBytes) })
        : await readBody(req, { max: MAX_BODY_BYTES, tooLarge: () => ec2Errors.invalidParameterValue(`The request body exceeds ${MAX_BODY_BYTES} bytes.`) });
      const rawUrl = req.url ?? '/';
      if (service === 's3') {
        action = s3OperationOf(req.method ?? 'GET', rawUrl);
        const verified = verifySigV4Detailed({
          request: { method: req.method ?? 'GET', rawUrl, rawHeaders: req.rawHeaders, body }, region: cloud.region, service: 's3', s3: true,
          fail: s3SigV4Error, findCredential,
        });
        principal = verified.credential.principal;
        if (faults.serverError() !== null) throw s3Errors.internalError();
        const out = answerS3(s3, {
          method: req.method ?? 'GET', rawUrl, body, verified, accountId: cloud.accountId,
          header: (name) => {
            const value = req.headers[name];
            return Array.isArray(value) ? value.join(',') : value;
          },
          headerNames: () => Object.keys(req.headers),
          authorize: (s3Action, resource) => {
            if (!isAllowed(verified.credential.policy, s3Action, [{ arn: resource, conditions: {} }])) throw s3Errors.accessDenied();
          },
        });
        action = out.operation;
        const delay = faults.latencyFor(action) + faults.s3Latency();
        if (delay > 0) await sleep(delay, AbortSignal.any([options.signal, closing.signal]));
        status = out.status;
        const payload = typeof out.body === 'string' ? Buffer.from(out.body, 'utf8') : out.body;
        res.writeHead(out.status, { 'x-amz-request-id': requestId, 'content-length': payload.length, ...out.headers });
        res.end(req.method === 'HEAD' ? undefined : payload);
        options.onRequest?.({ requestId, action, principal, remoteAddress, status, code, ms: Math.round((performance.now() - startedAt) * 10) / 10 });
        return;
      }
      const q = rawUrl.indexOf('?');
      const contentType = req.headers['content-type'] ?? '';
      const params = QueryParams.parse(q < 0 ? '' : rawUrl.slice(q + 1), contentType.startsWith('application/x-www-form-urlencoded') ? body.toString('utf8') : '');
      if (service === 'iam' || service === 'sts') {
        const credential = verifySigV4({
          request: { method: req.method ?? 'GET', rawUrl, rawHeaders: req.rawHeaders, body },
          // IAM is global: at a custom endpoint the SDK and the CLI sign for their own region; AWS's scope is us-east-1.
          region: cloud.region, otherRegions: ['us-east-1'], service, fail: iamSigV4Error, findCredential,
        });
        principal = credential.principal;
        action = params.get('Action');
        if (action === undefined) throw iamErrors.invalidAction('(none)', query.version);
        const handler = Object.hasOwn(query.actions, action) ? query.actions[action] : undefined;
        if (handler === undefined) throw iamErrors.invalidAction(action, query.version);
        if (faults.serverError() !== null) throw iamErrors.serviceFailure();
        const delay = faults.latencyFor(action);
        if (delay > 0) await sleep(delay, AbortSignal.any([options.signal, closing.signal]));
        const actionName = `${service}:${action}`;
        const roleName = credential.principal.startsWith('role/') ? credential.principal.slice(5) : null;
        const principalArn = roleName !== null
          ? `arn:aws:sts::${cloud.accountId}:assumed-role/${roleName}/${roleName}`
          : `arn:aws:iam::${cloud.accountId}:user/${credential.principal}`;
        // STS's user ids: the role's id and the session for a role, a stable AIDA id for a user.
        const userId = roleName !== null
          ? `${cloud.view().roles[roleName]?.roleId ?? 'AROA'}:${roleName}`
          : `AIDA${createHash('sha256').update(credential.accessKeyId).digest('hex').slice(0, 17).toUpperCase()}`;
        const result = handler.run({
          iam: cloud.iam, params, caller: { arn: principalArn, userId, account: cloud.accountId },
          authorize: (resource) => {
            if (!isAllowed(credential.policy, actionName, [{ arn: resource, conditions: {} }])) throw iamErrors.accessDenied({ principalArn, action: actionName, resource });
          },
        });
        const xml = queryResponseXml({ action, xmlns: query.xmlns, requestId, result });
        res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(xml) });
        res.end(xml);
        options.onRequest?.({ requestId, action, principal, remoteAddress, status, code, ms: Math.round((performance.now() - startedAt) * 10) / 10 });
        return;
      }
      const credential = verifySigV4({
        request: { method: req.method ?? 'GET', rawUrl, rawHeaders: req.rawHeaders, body },
        region: cloud.region, service: 'ec2', findCredential,
      });
      principal = credential.principal;
      action = params.get('Action');
      if (action === undefined) throw ec2Errors.missingParameter('action');
      const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
      if (handler === undefined) throw ec2Errors.invalidAction(action);
      const throttled = faults.throttle({ mutating: handler.mutating });
      if (throttled !== null) throw throttled;
      const injected = faults.serverError();
      if (injected !== null) throw injected;
      const delay = faults.latencyFor(action);
      if (delay > 0) await sleep(delay, AbortSignal.any([options.signal, closing.signal]));
      const actionName = action;
      const xml = handler.run({
        cloud, params,
        view: handler.mutating ? cloud.view() : cloud.viewAt(faults.describeTime()),
        authorize: (resources) => {
          if (!isAllowed(credential.policy, `ec2:${actionName}`, resources)) throw ec2Errors.unauthorized();
          if (params.bool('DryRun') === true) throw ec2Errors.dryRun();
        },
        allows: (otherAction, resources) => isAllowed(credential.policy, otherAction, resources),
      });
      answer(res, 200, responseXml(action, requestId, xml), requestId);
    } catch (error) {
      if (closing.signal.aborted || options.signal.aborted) {
        req.socket.destroy();
        return;
      }
      const apiError = error instanceof Ec2ApiError ? error
        : service === 'iam' || service === 'sts' ? iamErrors.serviceFailure() : service === 's3' ? s3Errors.internalError() : ec2Errors.internalError();
      status = apiError.status;
      code = apiError.code;
      if (service === 's3') {
        const s3Error = apiError instanceof S3ApiError ? apiError : new S3ApiError({ code: apiError.code, message: apiError.message, status: apiError.status });
        // HEAD answers carry no body, so the SDK names the error by its status (NotFound).
        const xml = req.method === 'HEAD' ? '' : xmlDocument({ root: 'Error', body: { Code: s3Error.code, Message: s3Error.message, ...s3Error.details, RequestId: requestId } });
        res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': requestId, 'content-length': Buffer.byteLength(xml), ...s3Error.headers });
        res.end(xml);
      } else if (service === 'iam' || service === 'sts') {
        const xml = queryErrorXml({ xmlns: query.xmlns, code: apiError.code, message: apiError.message, status, requestId });
        res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(xml) });
        res.end(xml);
      } else {
        answer(res, status, errorXml(apiError.code, apiError.message, requestId), requestId);
      }
    }
    options.onRequest?.({ requestId, action, principal, remoteAddress, status, code, ms: Math.round((performance.now() - startedAt) * 10) / 10 });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  // AWS's endpoints keep an idle connection open far longer than Node's default 5 s. With 5 s, a
  // client that reuses a pooled connection after about 5 s idle races the server's close and gets
  // ECONNRESET (the SDK retries it; the tests' clients, with one attempt, failed on it).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause) => reject(new SystemError('LAB_LISTEN', `the lab EC2 API cannot listen on ${options.host}:${options.port}: ${cause.message}; pick another address or port`, { cause })));
    server.listen({ host: options.host, port: options.port, signal: options.signal }, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      closing.abort();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closed;
  };
  options.signal.addEventListener('abort', () => void close(), { once: true });
  return { url: `http://${host}:${port}/`, close, faults, s3, acceptConnection: (stream) => void server.emit('connection', stream) };
}
