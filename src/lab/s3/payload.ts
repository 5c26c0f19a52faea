/**
 * An S3 PUT body as the clients send it: a plain payload whose SHA-256 the signature covers, an
 * `UNSIGNED-PAYLOAD`, or the `aws-chunked` encoding with signed chunks or checksum trailers (the
 * SDK streams with `STREAMING-UNSIGNED-PAYLOAD-TRAILER`); then the integrity headers (`Content-MD5`,
 * `x-amz-checksum-crc32|sha1|sha256`, in a header or a trailer) checked. Pure.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { chunkSignature, payloadSha256, type VerifiedSigV4 } from '../ec2/sigv4.js';
import { s3Errors } from './errors.js';

const CRLF = Buffer.from('\r\n');

function readLine(body: Buffer, at: number): { line: string; next: number } {
  const end = body.indexOf(CRLF, at);
  if (end < 0) throw s3Errors.incompleteBody();
  return { line: body.subarray(at, end).toString('latin1'), next: end + 2 };
}

/** Decode aws-chunked; checks each chunk's signature when `verified` is given (signed streaming). */
function decodeChunked(body: Buffer, verified: VerifiedSigV4 | undefined): { data: Buffer; trailers: Map<string, string> } {
  const parts: Buffer[] = [];
  const trailers = new Map<string, string>();
  let at = 0;
  let previous = verified?.signature ?? '';
  for (;;) {
    const { line, next } = readLine(body, at);
    const [sizeText, ...extensions] = line.split(';');
    const size = Number.parseInt(sizeText ?? '', 16);
    if (!Number.isInteger(size) || size < 0) throw s3Errors.invalidArgument(`Invalid aws-chunked chunk header: ${line.slice(0, 80)}`);
    if (next + size > body.length) throw s3Errors.incompleteBody();
    const chunk = body.subarray(next, next + size);
    if (verified !== undefined) {
      const given = extensions.find((x) => x.startsWith('chunk-signature='))?.slice('chunk-signature='.length);
      const expected = chunkSignature({ verified, previous, chunk });
      if (given !== expected) throw s3Errors.signatureDoesNotMatch();
      previous = expected;
    }
    if (size === 0) {
      at = next;
      break;
    }
    parts.push(chunk);
    if (!body.subarray(next + size, next + size + 2).equals(CRLF)) throw s3Errors.incompleteBody();
    at = next + size + 2;
  }
  // Trailers (`name:value` lines) up to an empty line.
  while (at < body.length) {
    const { line, next } = readLine(body, at);
    at = next;
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon > 0) trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { data: Buffer.concat(parts), trailers };
}

/**
 * The object's bytes from a PUT body, checked against what the request declares.
 * @throws S3ApiError XAmzContentSHA256Mismatch, SignatureDoesNotMatch (a chunk), IncompleteBody,
 *   BadDigest / InvalidDigest (Content-MD5 or an x-amz-checksum-*), InvalidArgument
 */
export function decodePutBody(options: { body: Buffer; headers: (name: string) => string | undefined; verified: VerifiedSigV4 }): Buffer {
  const { body, headers, verified } = options;
  const mode = verified.contentSha256 ?? '';
  let data: Buffer;
  let trailers = new Map<string, string>();
  if (/^[0-9a-f]{64}$/.test(mode)) {
    if (payloadSha256(body) !== mode) throw s3Errors.contentSha256Mismatch();
    data = body;
  } else if (mode === 'UNSIGNED-PAYLOAD') {
    data = body;
  } else if (mode === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' || mode === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' || mode === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER') {
    ({ data, trailers } = decodeChunked(body, mode === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' ? undefined : verified));
    const declared = headers('x-amz-decoded-content-length');
    if (declared !== undefined && Number(declared) !== data.length) throw s3Errors.incompleteBody();
  } else {
    throw s3Errors.invalidArgument(`x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) or a SHA-256 hex digest, not ${mode.slice(0, 80)}`);
  }
  const md5 = headers('content-md5');
  if (md5 !== undefined) {
    if (Buffer.from(md5, 'base64').length !== 16) throw s3Errors.invalidDigest();
    if (createHash('md5').update(data).digest('base64') !== md5) throw s3Errors.badDigest('Content-MD5');
  }
  const checksum = (name: string): string | undefined => headers(name) ?? trailers.get(name);
  const crc = checksum('x-amz-checksum-crc32');
  if (crc !== undefined) {
    const computed = Buffer.alloc(4);
    computed.writeUInt32BE(crc32(data) >>> 0);
    if (computed.toString('base64') !== crc) throw s3Errors.badDigest('CRC32');
  }
  for (const [name, algorithm] of [['x-amz-checksum-sha1', 'sha1'], ['x-amz-checksum-sha256', 'sha256']] as const) {
    const value = checksum(name);
    if (value !== undefined && createHash(algorithm).update(data).digest('base64') !== value) throw s3Errors.badDigest(algorithm.toUpperCase());
  }
  return data;
}
