/**
 * The lab's S3 REST API, path-style (`/bucket/key`) on the lab endpoint: the request routed to its
 * operation, the caller's policy checked (`s3:<Action>` on `arn:aws:s3:::bucket[/key]`), the model
 * called, S3's headers and XML out. docs/lab-ec2-api.md lists what is supported.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html
 */
import { createHash } from 'node:crypto';
import type { VerifiedSigV4 } from '../ec2/sigv4.js';
import { renderChildren, unescapeXml, xmlDocument, type XmlNode } from '../ec2/xml.js';
import { S3ApiError, s3Errors } from './errors.js';
import { etagMatches, type LabS3, type S3Bucket, type S3ObjectVersion, type VersioningStatus } from './model.js';
import { decodePutBody } from './payload.js';
import { lifecycleXml, parseLifecycleConfiguration } from './lifecycle.js';

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** One S3 request, already read and its signature verified. */
export interface S3Request {
  readonly method: string;
  readonly rawUrl: string;
  readonly header: (name: string) => string | undefined;
  /** Every header name, lower-case. */
  readonly headerNames: () => readonly string[];
  readonly body: Buffer;
  readonly verified: VerifiedSigV4;
  readonly accountId: string;
  /** Throws AccessDenied unless the caller's policy allows `action` on `resource`. */
  readonly authorize: (action: string, resource: string) => void;
}

/** What to send back. */
export interface S3Answer {
  readonly operation: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer | string;
}

const SUBRESOURCES_NOT_SUPPORTED = ['acl', 'policy', 'cors', 'website', 'uploads', 'uploadId', 'encryption', 'replication', 'logging', 'notification', 'object-lock', 'retention', 'legal-hold', 'torrent', 'restore', 'select', 'attributes', 'accelerate', 'requestPayment', 'ownershipControls', 'publicAccessBlock', 'analytics', 'inventory', 'metrics', 'intelligent-tiering'];

const httpDate = (ms: number): string => new Date(ms).toUTCString();
const isoDate = (ms: number): string => new Date(ms).toISOString();

function ownerXml(accountId: string): XmlNode {
  return { ID: createHash('sha256').update(accountId).digest('hex'), DisplayName: 'lab' };
}

function xml(operation: string, root: string, body: XmlNode, headers: Record<string, string> = {}): S3Answer {
  return { operation, status: 200, headers: { 'content-type': 'application/xml', ...headers }, body: xmlDocument({ root, xmlns: S3_XMLNS, body }) };
}

const empty = (operation: string, status: number, headers: Record<string, string> = {}): S3Answer => ({ operation, status, headers, body: '' });

function objectHeaders(bucket: S3Bucket, v: S3ObjectVersion): Record<string, string> {
  const headers: Record<string, string> = {
    etag: v.etag, 'last-modified': httpDate(v.lastModified), 'content-type': v.contentType, 'accept-ranges': 'bytes',
  };
  if (bucket.versioning !== null) headers['x-amz-version-id'] = v.versionId;
  for (const [k, value] of Object.entries(v.metadata)) headers[`x-amz-meta-${k}`] = value;
  return headers;
}

/** GET/HEAD conditions (RFC 7232 as S3 applies them): 412 for If-Match / If-Unmodified-Since, 304 for If-None-Match / If-Modified-Since. */
function readConditions(req: S3Request, v: S3ObjectVersion): 'ok' | 304 {
  const ifMatch = req.header('if-match');
  const ifNoneMatch = req.header('if-none-match');
  const since = req.header('if-modified-since');
  const unmodifiedSince = req.header('if-unmodified-since');
  const lastModifiedSecond = Math.floor(v.lastModified / 1000) * 1000;
  if (ifMatch !== undefined && !etagMatches(ifMatch, v.etag)) throw s3Errors.preconditionFailed('If-Match');
  if (ifMatch === undefined && unmodifiedSince !== undefined && lastModifiedSecond > Date.parse(unmodifiedSince)) throw s3Errors.preconditionFailed('If-Unmodified-Since');
  if (ifNoneMatch !== undefined) return etagMatches(ifNoneMatch, v.etag) ? 304 : 'ok';
  if (since !== undefined && lastModifiedSecond <= Date.parse(since)) return 304;
  return 'ok';
}

/** A single `bytes=` range: [start, end] inclusive, or undefined for the whole object. */
function parseRange(header: string | undefined, size: number): [number, number] | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return undefined; // S3 ignores a range it cannot parse
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) {
    throw s3Errors.invalidRange();
  }
  return [start, end];
}

function versioningBody(body: string): VersioningStatus {
  const m = /<Status>\s*(Enabled|Suspended)\s*<\/Status>/.exec(body);
  if (!/<VersioningConfiguration[\s>]/.test(body) || m === null) throw s3Errors.malformedXml();
  return m[1] as VersioningStatus;
}

function maxKeys(params: URLSearchParams): number {
  const text = params.get('max-keys');
  if (text === null) return 1000;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw s3Errors.invalidArgument('Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: text });
  return Math.min(n, 1000);
}

/** Answer one S3 request. Throws S3ApiError for S3's error answers. */
export function answerS3(s3: LabS3, req: S3Request): S3Answer {
  const q = req.rawUrl.indexOf('?');
  const rawPath = q < 0 ? req.rawUrl : req.rawUrl.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : req.rawUrl.slice(q + 1));
  const slash = rawPath.indexOf('/', 1);
  const bucketName = decodeURIComponent(slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash));
  const key = slash < 0 ? '' : decodeURIComponent(rawPath.slice(slash + 1));
  const unsupported = SUBRESOURCES_NOT_SUPPORTED.find((name) => params.has(name));
  if (unsupported !== undefined) throw s3Errors.notSupported(`the ?${unsupported} subresource`);
  const method = req.method.toUpperCase();
  // Bucket tags are set at creation (CreateBucketConfiguration Tags) and read with GetBucketTagging.
  if (params.has('tagging') && (key !== '' || method !== 'GET')) throw s3Errors.notSupported('the ?tagging subresource other than GetBucketTagging');
  const urlEncode = params.get('encoding-type') === 'url';
  const enc = (text: string): string => (urlEncode ? encodeURIComponent(text).replace(/%2F/g, '/') : text);

  if (bucketName === '') {
    if (method !== 'GET') throw s3Errors.methodNotAllowed();
    req.authorize('s3:ListAllMyBuckets', '*');
    return xml('ListBuckets', 'ListAllMyBucketsResult', {
      Owner: ownerXml(req.accountId),
      Buckets: { Bucket: s3.listBuckets().map((b) => ({ Name: b.name, CreationDate: isoDate(b.createdAt), BucketRegion: s3.region })) },
    });
  }
  const bucketArn = `arn:aws:s3:::${bucketName}`;

  if (key === '') {
    switch (method) {
      case 'PUT': {
        if (params.has('lifecycle')) {
          req.authorize('s3:PutLifecycleConfiguration', bucketArn);
          s3.bucket(bucketName);
          requireBodyChecksum(req);
          const rules = parseLifecycleConfiguration(decodePutBody({ body: req.body, headers: req.header, verified: req.verified }).toString('utf8'));
          s3.bucket(bucketName).lifecycle = rules;
          return empty('PutBucketLifecycleConfiguration', 200, { 'x-amz-transition-default-minimum-object-size': TRANSITION_DEFAULT });
        }
        if (params.has('versioning')) {
          req.authorize('s3:PutBucketVersioning', bucketArn);
          const status = versioningBody(req.body.toString('utf8'));
          s3.setVersioning(bucketName, status);
          return empty('PutBucketVersioning', 200);
        }
        req.authorize('s3:CreateBucket', bucketArn);
        const text = req.body.toString('utf8');
        const constraint = /<LocationConstraint>\s*([^<]*?)\s*<\/LocationConstraint>/.exec(text)?.[1];
        if (text.trim() !== '' && !/<CreateBucketConfiguration[\s>]/.test(text)) throw s3Errors.malformedXml();
        const tags = creationTags(text);
        // S3 checks s3:TagResource for a bucket created with Tags (CreateBucketConfiguration.Tags).
        if (Object.keys(tags).length > 0) req.authorize('s3:TagResource', bucketArn);
        s3.createBucket({ name: bucketName, locationConstraint: constraint === '' ? undefined : constraint, tags });
        return empty('CreateBucket', 200, { location: `/${bucketName}` });
      }
      case 'HEAD':
        req.authorize('s3:ListBucket', bucketArn);
        s3.bucket(bucketName);
        return empty('HeadBucket', 200, { 'x-amz-bucket-region': s3.region });
      case 'DELETE':
        if (params.has('lifecycle')) {
          // DeleteBucketLifecycle: S3 checks s3:PutLifecycleConfiguration (there is no delete action).
          req.authorize('s3:PutLifecycleConfiguration', bucketArn);
          s3.bucket(bucketName).lifecycle = null;
          return empty('DeleteBucketLifecycle', 204);
        }
        req.authorize('s3:DeleteBucket', bucketArn);
        s3.deleteBucket(bucketName);
        return empty('DeleteBucket', 204);
      case 'GET':
        return listBucket(s3, req, { bucketName, bucketArn, params, enc });
      case 'POST':
        if (params.has('delete')) return deleteObjects(s3, req, bucketName);
        throw s3Errors.methodNotAllowed();
      default:
        throw s3Errors.methodNotAllowed();
    }
  }
  if (params.has('delete')) throw s3Errors.methodNotAllowed();

  const objectArn = `${bucketArn}/${key}`;
  const versionId = params.get('versionId') ?? undefined;
  switch (method) {
    case 'PUT': {
      if (req.header('x-amz-copy-source') !== undefined) throw s3Errors.notSupported('CopyObject (x-amz-copy-source)');
      req.authorize('s3:PutObject', objectArn);
      s3.bucket(bucketName);
      const data = decodePutBody({ body: req.body, headers: req.header, verified: req.verified });
      const metadata: Record<string, string> = {};
      for (const name of req.headerNames()) if (name.startsWith('x-amz-meta-')) metadata[name.slice(11)] = req.header(name) ?? '';
      const ifMatch = req.header('if-match');
      const ifNoneMatch = req.header('if-none-match');
      const contentType = req.header('content-type');
      const version = s3.put({
        bucket: bucketName, key, body: data, metadata,
        ...(contentType === undefined ? {} : { contentType }),
        conditions: { ...(ifMatch === undefined ? {} : { ifMatch }), ...(ifNoneMatch === undefined ? {} : { ifNoneMatch }) },
      });
      const headers: Record<string, string> = { etag: version.etag };
      if (s3.bucket(bucketName).versioning !== null) headers['x-amz-version-id'] = version.versionId;
      return empty('PutObject', 200, headers);
    }
    case 'GET':
    case 'HEAD': {
      req.authorize(versionId === undefined ? 's3:GetObject' : 's3:GetObjectVersion', objectArn);
      const operation = method === 'GET' ? 'GetObject' : 'HeadObject';
      const bucket = s3.bucket(bucketName);
      const v = s3.get({ bucket: bucketName, key, ...(versionId === undefined ? {} : { versionId }) });
      const headers = objectHeaders(bucket, v);
      if (readConditions(req, v) === 304) return { operation, status: 304, headers: { etag: v.etag, 'last-modified': headers['last-modified']! }, body: '' };
      const range = parseRange(req.header('range'), v.body.length);
      if (range === undefined) return { operation, status: 200, headers: { ...headers, 'content-length': String(v.body.length) }, body: method === 'GET' ? v.body : '' };
      const [start, end] = range;
      return {
        operation, status: 206,
        headers: { ...headers, 'content-range': `bytes ${start}-${end}/${v.body.length}`, 'content-length': String(end - start + 1) },
        body: method === 'GET' ? v.body.subarray(start, end + 1) : '',
      };
    }
    case 'DELETE': {
      req.authorize(versionId === undefined ? 's3:DeleteObject' : 's3:DeleteObjectVersion', objectArn);
      const out = s3.delete({ bucket: bucketName, key, ...(versionId === undefined ? {} : { versionId }) });
      const headers: Record<string, string> = {};
      if (out.versionId !== undefined) headers['x-amz-version-id'] = out.versionId;
      if (out.deleteMarker) headers['x-amz-delete-marker'] = 'true';
      return empty('DeleteObject', 204, headers);
    }
    default:
      throw s3Errors.methodNotAllowed();
  }
}

function listBucket(s3: LabS3, req: S3Request, options: { bucketName: string; bucketArn: string; params: URLSearchParams; enc: (text: string) => string }): S3Answer {
  const { bucketName, bucketArn, params, enc } = options;
  if (params.has('versioning')) {
    req.authorize('s3:GetBucketVersioning', bucketArn);
    const status = s3.bucket(bucketName).versioning;
    return xml('GetBucketVersioning', 'VersioningConfiguration', status === null ? {} : { Status: status });
  }
  if (params.has('lifecycle')) {
    req.authorize('s3:GetLifecycleConfiguration', bucketArn);
    const rules = s3.bucket(bucketName).lifecycle;
    if (rules === null) throw s3Errors.noSuchLifecycleConfiguration(bucketName);
    return xml('GetBucketLifecycleConfiguration', 'LifecycleConfiguration', lifecycleXml(rules), { 'x-amz-transition-default-minimum-object-size': TRANSITION_DEFAULT });
  }
  if (params.has('tagging')) {
    req.authorize('s3:GetBucketTagging', bucketArn);
    const tags = Object.entries(s3.bucket(bucketName).tags);
    if (tags.length === 0) throw s3Errors.noSuchTagSet(bucketName);
    return xml('GetBucketTagging', 'Tagging', { TagSet: { Tag: tags.map(([Key, Value]) => ({ Key, Value })) } });
  }
  if (params.has('location')) {
    req.authorize('s3:GetBucketLocation', bucketArn);
    s3.bucket(bucketName);
    return xml('GetBucketLocation', 'LocationConstraint', {});
  }
  const prefix = params.get('prefix') ?? '';
  const max = maxKeys(params);
  if (params.has('versions')) {
    req.authorize('s3:ListBucketVersions', bucketArn);
    if (params.get('delimiter') !== null) throw s3Errors.notSupported('delimiter in ListObjectVersions');
    const bucket = s3.bucket(bucketName);
    const keyMarker = params.get('key-marker') ?? '';
    const versionMarker = params.get('version-id-marker') ?? '';
    const all = s3.allVersions(bucket).filter(({ version }) => version.key.startsWith(prefix));
    let start = 0;
    if (keyMarker !== '') {
      const at = versionMarker === '' ? -1 : all.findIndex(({ version }) => version.key === keyMarker && version.versionId === versionMarker);
      start = at >= 0 ? at + 1 : all.findIndex(({ version }) => version.key > keyMarker);
      if (start < 0) start = all.length;
    }
    const page = all.slice(start, start + max);
    const truncated = start + max < all.length;
    const last = page.at(-1)?.version;
    const entries = page.map(({ version, isLatest }) => (version.deleteMarker
      ? { DeleteMarker: { Key: enc(version.key), VersionId: version.versionId, IsLatest: isLatest, LastModified: isoDate(version.lastModified), Owner: ownerXml(req.accountId) } }
      : {
        Version: {
          Key: enc(version.key), VersionId: version.versionId, IsLatest: isLatest, LastModified: isoDate(version.lastModified), ETag: version.etag,
          Size: version.body.length, StorageClass: 'STANDARD', Owner: ownerXml(req.accountId),
        },
      }));
    // Versions and delete markers interleave in one list, in order (as S3 sends them).
    const body = entries.map((e) => renderChildren(e)).join('');
    const head = xmlDocument({ root: 'ListVersionsResult', xmlns: S3_XMLNS, body: {
      Name: bucketName, Prefix: enc(prefix), KeyMarker: enc(keyMarker), VersionIdMarker: versionMarker, MaxKeys: max, IsTruncated: truncated,
      NextKeyMarker: truncated && last !== undefined ? enc(last.key) : undefined, NextVersionIdMarker: truncated ? last?.versionId : undefined,
      EncodingType: params.get('encoding-type') ?? undefined,
    } });
    return {
      operation: 'ListObjectVersions', status: 200, headers: { 'content-type': 'application/xml' },
      body: head.replace(/<\/ListVersionsResult>$/, `${body}</ListVersionsResult>`),
    };
  }
  if (params.get('list-type') !== '2') throw s3Errors.notSupported('ListObjects (version 1); use ListObjectsV2');
  req.authorize('s3:ListBucket', bucketArn);
  const bucket = s3.bucket(bucketName);
  const delimiter = params.get('delimiter') ?? '';
  const token = params.get('continuation-token');
  const after = token !== null ? Buffer.from(token, 'base64url').toString('utf8') : params.get('start-after') ?? '';
  const rows: ({ key: string; version: S3ObjectVersion } | { prefix: string })[] = [];
  const seen = new Set<string>();
  for (const key of [...bucket.versions.keys()].sort()) {
    const current = s3.current(bucket, key);
    if (current === undefined || !key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const cut = delimiter === '' ? -1 : rest.indexOf(delimiter);
    if (cut >= 0) {
      const common = prefix + rest.slice(0, cut + delimiter.length);
      if (!seen.has(common)) {
        seen.add(common);
        rows.push({ prefix: common });
      }
    } else {
      rows.push({ key, version: current });
    }
  }
  const remaining = rows.filter((r) => ('key' in r ? r.key : r.prefix) > after);
  const page = remaining.slice(0, max);
  const truncated = remaining.length > max;
  const lastRow = page.at(-1);
  return xml('ListObjectsV2', 'ListBucketResult', {
    Name: bucketName, Prefix: enc(prefix), Delimiter: delimiter === '' ? undefined : enc(delimiter), MaxKeys: max, KeyCount: page.length, IsTruncated: truncated,
    ContinuationToken: token ?? undefined, StartAfter: params.get('start-after') === null ? undefined : enc(params.get('start-after')!),
    NextContinuationToken: truncated && lastRow !== undefined ? Buffer.from('key' in lastRow ? lastRow.key : lastRow.prefix, 'utf8').toString('base64url') : undefined,
    EncodingType: params.get('encoding-type') ?? undefined,
    Contents: page.flatMap((r) => ('key' in r ? [{
      Key: enc(r.key), LastModified: isoDate(r.version.lastModified), ETag: r.version.etag, Size: r.version.body.length, StorageClass: 'STANDARD',
    }] : [])),
    CommonPrefixes: page.flatMap((r) => ('prefix' in r ? [{ Prefix: enc(r.prefix) }] : [])),
  });
}

/**
 * DeleteObjects and PutBucketLifecycleConfiguration require a checksum of the body: `Content-MD5`
 * or an `x-amz-checksum-*` (header or trailer), which decodePutBody then checks.
 */
function requireBodyChecksum(req: S3Request): void {
  const trailer = req.header('x-amz-trailer') ?? '';
  const hasChecksum = req.header('content-md5') !== undefined || /x-amz-checksum-/.test(trailer)
    || req.headerNames().some((n) => n.startsWith('x-amz-checksum-') && n !== 'x-amz-checksum-type' && n !== 'x-amz-checksum-algorithm');
  if (!hasChecksum) throw s3Errors.invalidRequest('Missing required header for this request: Content-MD5 or x-amz-checksum-*');
}

/** S3's default for lifecycle transitions of small objects, which it states on Put/GetBucketLifecycleConfiguration. */
const TRANSITION_DEFAULT = 'all_storage_classes_128K';

/** S3's limit of keys per DeleteObjects request. */
export const DELETE_OBJECTS_MAX = 1000;

/**
 * DeleteObjects (`POST /b?delete`): up to 1,000 keys (with a version id: that version for good,
 * else as DeleteObject without one), each authorized on its own (`s3:DeleteObject`, or
 * `s3:DeleteObjectVersion` with a version id) and failing on its own: a refused key is an
 * `<Error>` in the answer, the others are deleted. The body must carry `Content-MD5` or an
 * `x-amz-checksum-*` (checked as PutObject's); `<Quiet>true</Quiet>` answers only the errors.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
 */
function deleteObjects(s3: LabS3, req: S3Request, bucketName: string): S3Answer {
  requireBodyChecksum(req);
  const text = decodePutBody({ body: req.body, headers: req.header, verified: req.verified }).toString('utf8');
  const root = /^\s*(?:<\?xml[^>]*\?>\s*)?<Delete(?:\s[^>]*)?>([\s\S]*)<\/Delete>\s*$/.exec(text);
  if (root === null) throw s3Errors.malformedXml();
  const inner = root[1] ?? '';
  const objects = [...inner.matchAll(/<Object>([\s\S]*?)<\/Object>/g)].map((m) => {
    const body = m[1] ?? '';
    const key = /<Key>([^<]*)<\/Key>/.exec(body)?.[1];
    const versionId = /<VersionId>([^<]*)<\/VersionId>/.exec(body)?.[1];
    if (key === undefined) throw s3Errors.malformedXml();
    return { key: unescapeXml(key), ...(versionId === undefined ? {} : { versionId: unescapeXml(versionId) }) };
  });
  if (objects.length === 0 || objects.length > DELETE_OBJECTS_MAX) throw s3Errors.malformedXml();
  const quiet = /<Quiet>\s*true\s*<\/Quiet>/.test(inner);
  s3.bucket(bucketName);
  const deleted: XmlNode[] = [];
  const errors: XmlNode[] = [];
  for (const o of objects) {
    try {
      req.authorize(o.versionId === undefined ? 's3:DeleteObject' : 's3:DeleteObjectVersion', `arn:aws:s3:::${bucketName}/${o.key}`);
      const out = s3.delete({ bucket: bucketName, key: o.key, ...(o.versionId === undefined ? {} : { versionId: o.versionId }) });
      if (quiet) continue;
      deleted.push(o.versionId === undefined
        ? { Key: o.key, DeleteMarker: out.deleteMarker ? true : undefined, DeleteMarkerVersionId: out.deleteMarker ? out.versionId : undefined }
        : { Key: o.key, VersionId: o.versionId, DeleteMarker: out.deleteMarker ? true : undefined, DeleteMarkerVersionId: out.deleteMarker ? out.versionId : undefined });
    } catch (err) {
      if (!(err instanceof S3ApiError)) throw err;
      errors.push({ Key: o.key, VersionId: o.versionId, Code: err.code, Message: err.message });
    }
  }
  return xml('DeleteObjects', 'DeleteResult', { Deleted: deleted, Error: errors });
}

/**
 * The `<Tags><Tag><Key/><Value/></Tag></Tags>` of a CreateBucketConfiguration (S3's tag rules:
 * at most 50, keys 1-128 and values 0-256 characters, keys unique, no `aws:` prefix).
 */
function creationTags(body: string): Record<string, string> {
  const tagsXml = /<Tags>([\s\S]*?)<\/Tags>/.exec(body)?.[1];
  if (tagsXml === undefined) return {};
  const tags: Record<string, string> = {};
  for (const m of tagsXml.matchAll(/<Tag>\s*<Key>([^<]*)<\/Key>\s*<Value>([^<]*)<\/Value>\s*<\/Tag>/g)) {
    const key = unescapeXml(m[1] ?? '');
    const value = unescapeXml(m[2] ?? '');
    if (key.length < 1 || key.length > 128 || value.length > 256 || key.toLowerCase().startsWith('aws:')) throw s3Errors.invalidTag(`The tag ${JSON.stringify(key)} is not valid: keys 1-128 characters without the aws: prefix, values at most 256`);
    if (key in tags) throw s3Errors.invalidTag('Cannot provide multiple Tags with the same key');
    tags[key] = value;
  }
  if (Object.keys(tags).length > 50) throw s3Errors.invalidTag('Object tags cannot be greater than 50');
  return tags;
}

/**
 * The operation a request asks for, from its method and path alone (as answerS3 names it): for
 * the request log when the request fails before its answer names it (a 404, a refusal).
 */
export function s3OperationOf(method: string, rawUrl: string): string {
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
  const slash = path.indexOf('/', 1);
  const m = method.toUpperCase();
  if (path === '/' || path === '') return 'ListBuckets';
  if (slash >= 0 && slash < path.length - 1) return ({ PUT: 'PutObject', GET: 'GetObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' } as Record<string, string>)[m] ?? m;
  if (params.has('lifecycle')) return ({ PUT: 'PutBucketLifecycleConfiguration', GET: 'GetBucketLifecycleConfiguration', DELETE: 'DeleteBucketLifecycle' } as Record<string, string>)[m] ?? m;
  if (m === 'PUT') return params.has('versioning') ? 'PutBucketVersioning' : 'CreateBucket';
  if (m === 'HEAD') return 'HeadBucket';
  if (m === 'POST' && params.has('delete')) return 'DeleteObjects';
  if (m === 'DELETE') return 'DeleteBucket';
  for (const [param, op] of [['versioning', 'GetBucketVersioning'], ['tagging', 'GetBucketTagging'], ['location', 'GetBucketLocation'], ['versions', 'ListObjectVersions']] as const) {
    if (params.has(param)) return op;
  }
  return 'ListObjectsV2';
}
