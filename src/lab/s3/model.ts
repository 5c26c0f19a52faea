/**
 * The lab's S3: buckets of one account and region, objects with ETags, bucket versioning (a
 * version per PUT, delete markers, the `null` version of unversioned and suspended buckets). No
 * I/O; bodies are held in memory (the lab's objects are specs and release packages). Rules follow
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html and the API reference.
 */
import { createHash, randomBytes } from 'node:crypto';
import { s3Errors } from './errors.js';
import type { LifecycleRule } from './lifecycle.js';

export type VersioningStatus = 'Enabled' | 'Suspended';

export interface S3ObjectVersion {
  readonly key: string;
  /** `null` (the string) for objects written while versioning was never enabled or suspended. */
  readonly versionId: string;
  readonly deleteMarker: boolean;
  readonly body: Buffer;
  /** `"<md5 hex>"`, quotes included, as S3 sends it. */
  readonly etag: string;
  readonly contentType: string;
  readonly lastModified: number;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface S3Bucket {
  readonly name: string;
  readonly createdAt: number;
  versioning: VersioningStatus | null;
  /** Tags given at creation (CreateBucketConfiguration `Tags`), read by GetBucketTagging. */
  readonly tags: Readonly<Record<string, string>>;
  /** The lifecycle rules (PutBucketLifecycleConfiguration), null when none is set. Stored, never applied. */
  lifecycle: readonly LifecycleRule[] | null;
  /** Per key, oldest first; the last one is the current version. */
  readonly versions: Map<string, S3ObjectVersion[]>;
}

/** Conditions of a conditional write (PutObject `If-Match` / `If-None-Match`). */
export interface WriteConditions {
  readonly ifMatch?: string;
  readonly ifNoneMatch?: string;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** S3's general-purpose bucket naming rules. */
export function isValidBucketName(name: string): boolean {
  return BUCKET_NAME.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name)
    && !name.startsWith('xn--') && !name.startsWith('sthree-') && !name.endsWith('-s3alias') && !name.endsWith('--ol-s3');
}

/** Whether an `If-Match` / `If-None-Match` list (`"a", "b"` or `*`) names this ETag. */
export function etagMatches(header: string, etag: string): boolean {
  return header.split(',').map((t) => t.trim()).some((t) => t === '*' || t === etag || t === etag.replaceAll('"', '') || t === `W/${etag}`);
}

export class LabS3 {
  private readonly buckets = new Map<string, S3Bucket>();

  constructor(private readonly options: { readonly region: string; readonly clock: () => number }) {}

  get region(): string {
    return this.options.region;
  }

  listBuckets(): S3Bucket[] {
    return [...this.buckets.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** @throws InvalidBucketName, IllegalLocationConstraintException, BucketAlreadyOwnedByYou */
  createBucket(options: { name: string; locationConstraint: string | undefined; tags?: Readonly<Record<string, string>> }): S3Bucket {
    if (!isValidBucketName(options.name)) throw s3Errors.invalidBucketName(options.name);
    // S3: outside us-east-1 the constraint must name the endpoint's region.
    const expected = this.options.region === 'us-east-1' ? undefined : this.options.region;
    if (options.locationConstraint !== expected && !(expected === undefined && options.locationConstraint === 'us-east-1')) {
      throw s3Errors.illegalLocationConstraint(options.locationConstraint);
    }
    if (this.buckets.has(options.name)) throw s3Errors.bucketAlreadyOwnedByYou(options.name);
    const bucket: S3Bucket = { name: options.name, createdAt: this.options.clock(), versioning: null, tags: { ...(options.tags ?? {}) }, lifecycle: null, versions: new Map() };
    this.buckets.set(bucket.name, bucket);
    return bucket;
  }

  /** @throws NoSuchBucket */
  bucket(name: string): S3Bucket {
    const bucket = this.buckets.get(name);
    if (bucket === undefined) throw s3Errors.noSuchBucket(name);
    return bucket;
  }

  /** @throws NoSuchBucket, BucketNotEmpty (any version or delete marker left, as S3 counts them) */
  deleteBucket(name: string): void {
    const bucket = this.bucket(name);
    if (bucket.versions.size > 0) throw s3Errors.bucketNotEmpty(name);
    this.buckets.delete(name);
  }

  setVersioning(name: string, status: VersioningStatus): void {
    this.bucket(name).versioning = status;
  }

  /** The current version of a key, unless it is missing or a delete marker. */
  current(bucket: S3Bucket, key: string): S3ObjectVersion | undefined {
    const latest = bucket.versions.get(key)?.at(-1);
    return latest === undefined || latest.deleteMarker ? undefined : latest;
  }

  /**
   * GetObject / HeadObject: the current version, or the given one.
   * @throws NoSuchBucket, NoSuchKey (with `x-amz-delete-marker` when a marker is current),
   *   NoSuchVersion, MethodNotAllowed (a delete marker by version id), InvalidArgument (malformed id)
   */
  get(options: { bucket: string; key: string; versionId?: string }): S3ObjectVersion {
    const bucket = this.bucket(options.bucket);
    const versions = bucket.versions.get(options.key) ?? [];
    if (options.versionId !== undefined) {
      if (options.versionId !== 'null' && !/^[A-Za-z0-9._-]{1,1024}$/.test(options.versionId)) {
        throw s3Errors.invalidArgument('Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: options.versionId });
      }
      const found = versions.find((v) => v.versionId === options.versionId);
      if (found === undefined) throw s3Errors.noSuchVersion(options.key, options.versionId);
      if (found.deleteMarker) throw s3Errors.methodNotAllowed({ 'x-amz-delete-marker': 'true', 'x-amz-version-id': found.versionId });
      return found;
    }
    const latest = versions.at(-1);
    if (latest === undefined) throw s3Errors.noSuchKey(options.key);
    if (latest.deleteMarker) throw s3Errors.noSuchKey(options.key, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': latest.versionId });
    return latest;
  }

  /**
   * PutObject. Conditional writes as S3 has them: `If-None-Match: *` fails with PreconditionFailed
   * when the key has a current object; `If-Match: <etag>` fails with NoSuchKey when it has none and
   * PreconditionFailed when the ETag differs.
   */
  put(options: {
    bucket: string; key: string; body: Buffer; contentType?: string; metadata?: Readonly<Record<string, string>>; conditions?: WriteConditions;
  }): S3ObjectVersion {
    const bucket = this.bucket(options.bucket);
    if (options.key.length === 0 || Buffer.byteLength(options.key) > 1024) throw s3Errors.invalidArgument('The key must be 1 to 1024 bytes long.');
    const current = this.current(bucket, options.key);
    const { ifMatch, ifNoneMatch } = options.conditions ?? {};
    if (ifNoneMatch !== undefined) {
      if (ifNoneMatch.trim() !== '*') throw s3Errors.notImplemented('If-None-Match');
      if (current !== undefined) throw s3Errors.preconditionFailed('If-None-Match');
    }
    if (ifMatch !== undefined) {
      if (current === undefined) throw s3Errors.noSuchKey(options.key);
      if (!etagMatches(ifMatch, current.etag)) throw s3Errors.preconditionFailed('If-Match');
    }
    const version: S3ObjectVersion = {
      key: options.key, versionId: this.nextVersionId(bucket), deleteMarker: false, body: options.body,
      etag: `"${createHash('md5').update(options.body).digest('hex')}"`, contentType: options.contentType ?? 'binary/octet-stream',
      lastModified: this.options.clock(), metadata: { ...options.metadata },
    };
    this.append(bucket, version);
    return version;
  }

  /**
   * DeleteObject: without a version id, removes the object (never versioned) or adds a delete
   * marker (versioning on or suspended); with one, removes that version for good. Deleting what
   * does not exist succeeds, as in S3.
   */
  delete(options: { bucket: string; key: string; versionId?: string }): { versionId: string | undefined; deleteMarker: boolean } {
    const bucket = this.bucket(options.bucket);
    const versions = bucket.versions.get(options.key) ?? [];
    if (options.versionId !== undefined) {
      const found = versions.find((v) => v.versionId === options.versionId);
      if (found === undefined) return { versionId: options.versionId, deleteMarker: false };
      this.replace(bucket, options.key, versions.filter((v) => v !== found));
      return { versionId: found.versionId, deleteMarker: found.deleteMarker };
    }
    if (bucket.versioning === null) {
      bucket.versions.delete(options.key);
      return { versionId: undefined, deleteMarker: false };
    }
    const marker: S3ObjectVersion = {
      key: options.key, versionId: this.nextVersionId(bucket), deleteMarker: true, body: Buffer.alloc(0), etag: '',
      contentType: '', lastModified: this.options.clock(), metadata: {},
    };
    this.append(bucket, marker);
    return { versionId: marker.versionId, deleteMarker: true };
  }

  /** Every version and delete marker: keys ascending, newest version first, as ListObjectVersions lists them. */
  allVersions(bucket: S3Bucket): { version: S3ObjectVersion; isLatest: boolean }[] {
    return [...bucket.versions.keys()].sort().flatMap((key) => {
      const versions = bucket.versions.get(key)!;
      return [...versions].reverse().map((version, i) => ({ version, isLatest: i === 0 }));
    });
  }

  /**
   * 32 characters of [A-Za-z0-9._], as S3's version ids look. Never `-`: base64url's `-` could
   * start an id, which the aws CLI then reads as an option (`--version-id -Abc...`: "expected one
   * argument"), one id in 64 (it failed test/lab/s3-cli once).
   */
  private nextVersionId(bucket: S3Bucket): string {
    return bucket.versioning === 'Enabled' ? randomBytes(24).toString('base64url').replaceAll('-', '.') : 'null';
  }

  /** A new current version; a `null` version replaces the key's previous `null` version. */
  private append(bucket: S3Bucket, version: S3ObjectVersion): void {
    const versions = (bucket.versions.get(version.key) ?? []).filter((v) => version.versionId !== 'null' || v.versionId !== 'null');
    versions.push(version);
    bucket.versions.set(version.key, versions);
  }

  private replace(bucket: S3Bucket, key: string, versions: S3ObjectVersion[]): void {
    if (versions.length === 0) bucket.versions.delete(key);
    else bucket.versions.set(key, versions);
  }
}
