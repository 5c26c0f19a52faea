/**
 * The operator's side of the release bucket for `overlay-lb apply --cluster`, `rollback` and
 * `status --cluster` (docs/provisioning.md "Rolling a spec out"): upload a spec version (with the
 * ownership and digest metadata `up` writes, never over a foreign object), write a node's
 * desired-version pointer, read the nodes' published status and the spec's versions. Every call
 * goes through the provisioning session (errors name the IAM action they need).
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { UserError } from '../../../util/errors.js';
import { DIGEST_METADATA, OWNER_METADATA } from './names.js';
import { isAwsError, type ProvisionSession } from './session.js';

/** An object's text and when it was last written, or null when there is none. */
export interface ObjectText {
  readonly body: string;
  readonly lastModified: number | null;
}

/** One version of the spec object, newest first. */
export interface SpecVersionInfo {
  readonly versionId: string;
  readonly isLatest: boolean;
  readonly lastModified: number | null;
}

/** The release bucket of one cluster, as the operator's CLI reads and writes it. */
export class ReleaseBucket {
  readonly #session: ProvisionSession;
  readonly #bucket: string;
  readonly #cluster: string;

  constructor(options: { readonly session: ProvisionSession; readonly bucket: string; readonly cluster: string }) {
    this.#session = options.session;
    this.#bucket = options.bucket;
    this.#cluster = options.cluster;
  }

  #arn(key: string): string {
    return `arn:aws:s3:::${this.#bucket}/${key}`;
  }

  /**
   * Stores `text` as a new version of the spec object and answers its version id; when the
   * current version already holds exactly this text, answers that one (no write). Refuses an
   * object without this cluster's ownership metadata, and writes only over the version observed.
   */
  async putSpec(key: string, text: string, options: { readonly signal: AbortSignal }): Promise<{ readonly versionId: string; readonly written: boolean }> {
    const { signal } = options;
    const s = this.#session;
    const sha256 = createHash('sha256').update(text, 'utf8').digest('hex');
    const head = await s.call('s3:GetObject', this.#arn(key), (abortSignal) => s.s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }), { abortSignal }), { signal })
      .catch((err: unknown) => {
        if (isAwsError(err, 'NotFound', 'NoSuchKey')) return null;
        throw err;
      });
    if (head !== null && head.Metadata?.[OWNER_METADATA] !== this.#cluster) {
      throw new UserError('PROVISION_CONFLICT', `s3://${this.#bucket}/${key} exists without the metadata ${OWNER_METADATA}=${this.#cluster}: it is not this cluster's spec, so nothing was uploaded; run overlay-lb up for this spec first, or set provision.prefix`);
    }
    if (head !== null && head.Metadata?.[DIGEST_METADATA] === sha256 && head.VersionId !== undefined) return { versionId: head.VersionId, written: false };
    const condition = head?.ETag === undefined ? { IfNoneMatch: '*' } : { IfMatch: head.ETag };
    const put = await s.call('s3:PutObject', this.#arn(key), (abortSignal) => s.s3.send(new PutObjectCommand({
      Bucket: this.#bucket, Key: key, Body: text, ContentType: 'application/yaml', Metadata: { [OWNER_METADATA]: this.#cluster, [DIGEST_METADATA]: sha256 }, ...condition,
    }), { abortSignal }), { signal });
    if (put.VersionId === undefined) {
      throw new UserError('CLOUD_INVALID_REQUEST', `s3://${this.#bucket} answered no version id: versioning is off on the bucket; run overlay-lb up (it turns versioning on), then apply again`);
    }
    return { versionId: put.VersionId, written: true };
  }

  /** The spec object's text at `versionId`. */
  async getVersion(key: string, versionId: string, options: { readonly signal: AbortSignal }): Promise<string> {
    const s = this.#session;
    const r = await s.call('s3:GetObjectVersion', this.#arn(key), (abortSignal) => s.s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key, VersionId: versionId }), { abortSignal }), options);
    return (await r.Body?.transformToString('utf8')) ?? '';
  }

  /** The versions of `key` (not delete markers), newest first. */
  async listVersions(key: string, options: { readonly signal: AbortSignal }): Promise<SpecVersionInfo[]> {
    const s = this.#session;
    const out: SpecVersionInfo[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      const r = await s.call('s3:ListBucketVersions', `arn:aws:s3:::${this.#bucket}`, (abortSignal) => s.s3.send(new ListObjectVersionsCommand({
        Bucket: this.#bucket, Prefix: key, ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }), ...(versionMarker === undefined ? {} : { VersionIdMarker: versionMarker }),
      }), { abortSignal }), options);
      for (const v of r.Versions ?? []) {
        if (v.Key === key && v.VersionId !== undefined) out.push({ versionId: v.VersionId, isLatest: v.IsLatest === true, lastModified: v.LastModified?.getTime() ?? null });
      }
      if (r.IsTruncated !== true) break;
      keyMarker = r.NextKeyMarker;
      versionMarker = r.NextVersionIdMarker;
    }
    return out.sort((a, b) => (b.lastModified ?? 0) - (a.lastModified ?? 0));
  }

  /** Writes a node's desired-version pointer (JSON: `DesiredSpecPointer`, src/agent-api/contract.ts). */
  async putPointer(key: string, body: string, options: { readonly signal: AbortSignal }): Promise<void> {
    const s = this.#session;
    await s.call('s3:PutObject', this.#arn(key), (abortSignal) => s.s3.send(new PutObjectCommand({
      Bucket: this.#bucket, Key: key, Body: body, ContentType: 'application/json', Metadata: { [OWNER_METADATA]: this.#cluster },
    }), { abortSignal }), options);
  }

  /** An object's text (a pointer, a published status), or null when there is none. */
  async read(key: string, options: { readonly signal: AbortSignal }): Promise<ObjectText | null> {
    const s = this.#session;
    const r = await s.call('s3:GetObject', this.#arn(key), (abortSignal) => s.s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }), { abortSignal }), options)
      .catch((err: unknown) => {
        if (isAwsError(err, 'NotFound', 'NoSuchKey')) return null;
        throw err;
      });
    if (r === null) return null;
    return { body: (await r.Body?.transformToString('utf8')) ?? '', lastModified: r.LastModified?.getTime() ?? null };
  }
}
