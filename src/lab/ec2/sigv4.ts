/**
 * Verification of AWS Signature Version 4 (header form), so the lab's API accepts exactly the
 * requests that the AWS SDK and the CLI sign with a lab credential and rejects the rest.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 *
 * Not checked (documented in docs/lab-ec2-api.md): the request time against a clock (the lab's
 * clock is often simulated) and pre-signed URLs (query-string signatures).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { encodeRfc3986, sha256Hex } from '../../cloud/aws/sigv4-sign.js';
import { ec2Errors } from './errors.js';
import type { LabCredential } from './policy.js';

/** The parts of an HTTP request that its signature covers. */
export interface SignedRequest {
  readonly method: string;
  /** The request target as received: path and query, still percent-encoded. */
  readonly rawUrl: string;
  /** Node's `req.rawHeaders`: name, value, name, value... */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function canonicalUri(rawPath: string): string {
  // Services other than S3 sign the path encoded twice: each already-encoded segment is encoded again.
  const segments = rawPath.split('/').map((s) => encodeRfc3986(s));
  const joined = segments.join('/');
  return joined === '' ? '/' : joined;
}

function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  return rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : pair.slice(eq + 1);
      return [encodeRfc3986(safeDecode(key)), encodeRfc3986(safeDecode(value))] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function headerMap(rawHeaders: readonly string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!.trim().replace(/\s+/g, ' ');
    map.set(name, [...(map.get(name) ?? []), value]);
  }
  return map;
}

/** Why a signature was refused; each protocol answers it with its own error code. */
export type SigV4Failure = 'missing' | 'malformed' | 'unknown-key' | 'scope' | 'token' | 'signature';

/** EC2's answers: MissingAuthenticationToken, else AuthFailure with the reason in the message. */
export function ec2SigV4Error(reason: SigV4Failure, message: string | undefined): Error {
  return reason === 'missing' ? ec2Errors.missingAuth() : ec2Errors.authFailure(message);
}

/** The service a request is signed for (the credential scope's fourth part), if it is signed at all. */
export function signingService(rawHeaders: readonly string[]): string | undefined {
  const authorization = headerMap(rawHeaders).get('authorization')?.[0];
  return authorization === undefined ? undefined : parseAuthorization(authorization)?.service;
}

interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

function parseAuthorization(header: string): ParsedAuthorization | undefined {
  const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(header.trim());
  if (m === null) return undefined;
  const scope = m[1]!.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request') return undefined;
  const [accessKeyId, date, region, service] = scope as [string, string, string, string];
  return { accessKeyId, date, region, service, signedHeaders: m[2]!.split(';'), signature: m[3]! };
}

/**
 * Check a request's SigV4 signature for `service` in `region` and return the credential that
 * signed it. Throws Ec2ApiError: MissingAuthenticationToken without an Authorization header,
 * AuthFailure for an unknown key, a wrong region or service, a missing or wrong session token,
 * or a signature that does not match.
 */
export function verifySigV4(options: VerifySigV4Options): LabCredential {
  return verifySigV4Detailed(options).credential;
}

export interface VerifySigV4Options {
  readonly request: SignedRequest;
  readonly region: string;
  readonly service: string;
  readonly findCredential: (accessKeyId: string) => LabCredential | undefined;
  /** Further regions the scope may name (IAM is global: clients sign it for us-east-1 or for their own region). */
  readonly otherRegions?: readonly string[];
  /** The protocol's error for a refusal. @default ec2SigV4Error */
  readonly fail?: (reason: SigV4Failure, message: string | undefined) => Error;
  /**
   * S3's variant: the path is signed encoded once (not twice), and the payload hash is the
   * `x-amz-content-sha256` header as sent (a hex digest, `UNSIGNED-PAYLOAD` or a `STREAMING-...`
   * mode); the caller checks the body against it. @default false
   */
  readonly s3?: boolean;
}

/** A verified signature and what S3's chunk signatures chain from. */
export interface VerifiedSigV4 {
  readonly credential: LabCredential;
  /** The request's signature (the seed of aws-chunked chunk signatures). */
  readonly signature: string;
  readonly signingKey: Buffer;
  readonly scope: string;
  readonly amzDate: string;
  /** The declared `x-amz-content-sha256`, if any. */
  readonly contentSha256: string | undefined;
}

/** verifySigV4, also returning the signing key and signature (for S3's aws-chunked payloads). */
export function verifySigV4Detailed(options: VerifySigV4Options): VerifiedSigV4 {
  const fail = options.fail ?? ec2SigV4Error;
  const headers = headerMap(options.request.rawHeaders);
  const authorization = headers.get('authorization')?.[0];
  if (authorization === undefined) throw fail('missing', undefined);
  const auth = parseAuthorization(authorization);
  if (auth === undefined) throw fail('malformed', 'Authorization header is not a well-formed AWS4-HMAC-SHA256 signature.');
  const credential = options.findCredential(auth.accessKeyId);
  if (credential === undefined) throw fail('unknown-key', undefined);
  const regionOk = auth.region === options.region || (options.otherRegions ?? []).includes(auth.region);
  if (!regionOk || auth.service !== options.service) {
    throw fail('scope', `Credential should be scoped to a valid region and service: expected ${options.region}/${options.service}, got ${auth.region}/${auth.service}.`);
  }
  const token = headers.get('x-amz-security-token')?.[0];
  if (credential.sessionToken !== undefined && token !== credential.sessionToken) throw fail('token', undefined);
  if (!auth.signedHeaders.includes('host')) throw fail('malformed', 'The host header must be signed.');

  const amzDate = headers.get('x-amz-date')?.[0];
  if (amzDate === undefined || !amzDate.startsWith(auth.date)) throw fail('malformed', 'X-Amz-Date is missing or does not match the credential scope date.');

  const { rawUrl } = options.request;
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
  const canonicalHeaders = auth.signedHeaders.map((name) => `${name}:${(headers.get(name) ?? []).join(',')}\n`).join('');
  const declaredHash = headers.get('x-amz-content-sha256')?.[0];
  let payloadHash: string;
  if (options.s3 === true) {
    if (declaredHash === undefined) throw fail('malformed', 'Missing required header for this request: x-amz-content-sha256');
    payloadHash = declaredHash;
  } else {
    payloadHash = declaredHash === 'UNSIGNED-PAYLOAD' ? declaredHash : sha256Hex(options.request.body);
  }
  const uri = options.s3 === true ? s3CanonicalUri(rawPath) : canonicalUri(rawPath);
  const canonicalRequest = [
    options.request.method.toUpperCase(), uri, canonicalQuery(rawQuery), canonicalHeaders,
    auth.signedHeaders.join(';'), payloadHash,
  ].join('\n');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = ['aws4_request'].reduce(
    (k, part) => hmac(k, part),
    hmac(hmac(hmac(`AWS4${credential.secretAccessKey}`, auth.date), auth.region), auth.service),
  );
  const expected = Buffer.from(hmac(key, stringToSign).toString('hex'), 'utf8');
  const given = Buffer.from(auth.signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw fail('signature', undefined);
  return { credential, signature: auth.signature, signingKey: key, scope, amzDate, contentSha256: declaredHash };
}

/** S3 signs each path segment encoded once (RFC 3986), whatever encoding the client chose on the wire. */
function s3CanonicalUri(rawPath: string): string {
  const joined = rawPath.split('/').map((s) => encodeRfc3986(safeDecode(s))).join('/');
  return joined === '' ? '/' : joined;
}

/**
 * The signature of one aws-chunked chunk (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`): each chains from
 * the previous one, the first from the request's.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
 */
export function chunkSignature(options: { verified: VerifiedSigV4; previous: string; chunk: Buffer }): string {
  const { verified } = options;
  const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', verified.amzDate, verified.scope, options.previous, sha256Hex(''), sha256Hex(options.chunk)].join('\n');
  return hmac(verified.signingKey, stringToSign).toString('hex');
}

/** The SHA-256 of a payload in hex, as `x-amz-content-sha256` carries it. */
export function payloadSha256(body: Buffer): string {
  return sha256Hex(body);
}
