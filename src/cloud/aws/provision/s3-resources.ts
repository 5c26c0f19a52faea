/**
 * The S3 side of `overlay-lb up`: the bucket (versioned, tagged as owned at creation), and the two
 * objects the nodes read: the spec and the package. Objects carry the ownership and their
 * content's SHA-256 as metadata (`x-amz-meta-overlay-lb-cluster`, `-overlay-lb-sha256`); a new object is written only if none exists (`If-None-Match:
 * *`) and a changed one only if it is still the version observed (`If-Match`), so a foreign object
 * written meanwhile is never overwritten.
 */
import { createHash } from 'node:crypto';
import {
  type BucketLocationConstraint, CreateBucketCommand, GetBucketTaggingCommand, GetBucketVersioningCommand, HeadBucketCommand, HeadObjectCommand, PutBucketVersioningCommand, PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { ObservedResource, ProvisionResource } from '../../provision-kind.js';
import { DIGEST_METADATA, OWNER_METADATA, OWNER_TAG, ownedBy, ownershipTags } from './names.js';
import { OverlayError } from '../../../util/errors.js';
import { isAwsError, type ProvisionSession } from './session.js';

export interface S3ResourceOptions {
  readonly session: ProvisionSession;
  readonly cluster: string;
  readonly bucket: string;
  readonly objects: readonly { readonly what: string; readonly key: string; readonly body: Uint8Array; readonly contentType: string }[];
}

/** The bucket and its objects, in dependency order. */
export function s3Resources(o: S3ResourceOptions): ProvisionResource[] {
  const { session, cluster, bucket } = o;
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const bucketLabel = `S3 bucket ${bucket}`;
  const notFound = (err: unknown): undefined => {
    if (isAwsError(err, 'NotFound', 'NoSuchBucket', 'NoSuchKey')) return undefined;
    throw err;
  };
  const enableVersioning = async (signal: AbortSignal): Promise<void> => {
    await session.call('s3:PutBucketVersioning', bucketArn, (abortSignal) => session.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }), { abortSignal }), { signal });
  };

  const bucketResource: ProvisionResource = {
    kind: 's3-bucket', label: bucketLabel, dependsOn: [],
    observe: async ({ signal }): Promise<ObservedResource> => {
      const head = await session.call('s3:ListBucket', bucketArn, (abortSignal) => session.s3.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal }), { signal })
        .then(() => true, (err: unknown) => {
          // 403 on HEAD (no body: the SDK knows only the status): the name is taken by another
          // account (bucket names are global), or these credentials may not list it.
          if (err instanceof OverlayError && err.details['httpStatus'] === 403) return false;
          return notFound(err);
        });
      if (head === undefined) return { state: 'absent' };
      const fix = `choose another bucket name (provision.bucket: bucket names are global), or use a bucket made by overlay-lb up for cluster ${cluster}`;
      if (!head) return { state: 'foreign', reason: `S3 bucket ${bucket} exists but HeadBucket is refused (403): it belongs to another account, or these credentials may not call s3:ListBucket on it`, fix };
      const tags = await session.call('s3:GetBucketTagging', bucketArn, (abortSignal) => session.s3.send(new GetBucketTaggingCommand({ Bucket: bucket }), { abortSignal }), { signal })
        .then((r) => r.TagSet, (err: unknown) => {
          if (isAwsError(err, 'NoSuchTagSet')) return [];
          throw err;
        });
      if (!ownedBy(tags, cluster)) return { state: 'foreign', reason: `S3 bucket ${bucket} exists without the tag ${OWNER_TAG}=${cluster}`, fix };
      const versioning = await session.call('s3:GetBucketVersioning', bucketArn, (abortSignal) => session.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }), { abortSignal }), { signal });
      return { state: 'owned', changes: versioning.Status === 'Enabled' ? [] : ['versioning'] };
    },
    create: async ({ signal }) => {
      // Tagged in the same call: a run killed right after it leaves a bucket up recognises.
      await session.call('s3:CreateBucket', bucketArn, (abortSignal) => session.s3.send(new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { ...(session.region === 'us-east-1' ? {} : { LocationConstraint: session.region as BucketLocationConstraint }), Tags: ownershipTags(cluster) },
      }), { abortSignal }), { signal });
      await enableVersioning(signal);
    },
    update: (_changes, { signal }) => enableVersioning(signal),
  };

  const objects = o.objects.map((object): ProvisionResource => {
    const arn = `${bucketArn}/${object.key}`;
    // The content's digest travels as metadata: an ETag is the MD5 only for unencrypted or SSE-S3
    // single-part objects (not with SSE-KMS), so it cannot tell "unchanged" on every account.
    const sha256 = createHash('sha256').update(object.body).digest('hex');
    let observedEtag: string | undefined;
    const put = async (condition: { IfNoneMatch: string } | { IfMatch: string }, signal: AbortSignal): Promise<void> => {
      await session.call('s3:PutObject', arn, (abortSignal) => session.s3.send(new PutObjectCommand({
        Bucket: bucket, Key: object.key, Body: object.body, ContentType: object.contentType, Metadata: { [OWNER_METADATA]: cluster, [DIGEST_METADATA]: sha256 }, ...condition,
      }), { abortSignal }), { signal });
    };
    return {
      kind: 's3-object', label: `S3 object s3://${bucket}/${object.key} (${object.what})`, dependsOn: [bucketLabel],
      observe: async ({ signal }) => {
        const head = await session.call('s3:GetObject', arn, (abortSignal) => session.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: object.key }), { abortSignal }), { signal })
          .then((r) => r, notFound);
        if (head === undefined) return { state: 'absent' };
        if (head.Metadata?.[OWNER_METADATA] !== cluster) {
          return { state: 'foreign', reason: `s3://${bucket}/${object.key} exists without the metadata ${OWNER_METADATA}=${cluster}`, fix: `move or delete that object, or set provision.prefix so that up writes elsewhere` };
        }
        observedEtag = head.ETag;
        return { state: 'owned', changes: head.Metadata[DIGEST_METADATA] === sha256 ? [] : ['content'] };
      },
      create: ({ signal }) => put({ IfNoneMatch: '*' }, signal),
      update: (_changes, { signal }) => put(observedEtag === undefined ? { IfNoneMatch: '*' } : { IfMatch: observedEtag }, signal),
    };
  });
  return [bucketResource, ...objects];
}
