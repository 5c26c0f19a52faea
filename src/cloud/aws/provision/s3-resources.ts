/**
 * The S3 side of `overlay-lb up`: the bucket (versioned, tagged as owned at creation, with one
 * lifecycle rule expiring the agents' noncurrent status versions after a day), and the two
 * objects the nodes read: the spec and the package. Objects carry the ownership and their
 * content's SHA-256 as metadata (`x-amz-meta-overlay-lb-cluster`, `-overlay-lb-sha256`); a new object is written only if none exists (`If-None-Match:
 * *`) and a changed one only if it is still the version observed (`If-Match`), so a foreign object
 * written meanwhile is never overwritten.
 *
 * `overlay-lb down` removes, at each of up's keys, exactly the versions that carry this cluster's
 * ownership metadata, and the delete markers of a key whose versions are all up's (markers hide
 * only up's versions there; where another writer's versions are mixed in, whose marker is whose
 * cannot be told, so they stay), markers first, so that a down killed midway never leaves a key
 * of bare markers behind; it never touches any other object, version or marker. At the keys the
 * deployment writes (`published`) ownership is judged on the key's newest and oldest versions
 * (`shareOfKey`), and deletes go in DeleteObjects batches of 1,000. The bucket goes only when it is this
 * cluster's and nothing else is in it; otherwise it stays, with a message naming what is there.
 */
import { createHash } from 'node:crypto';
import {
  type BucketLocationConstraint, CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, GetBucketLifecycleConfigurationCommand, GetBucketTaggingCommand, GetBucketVersioningCommand,
  HeadBucketCommand, HeadObjectCommand, type LifecycleRule, ListObjectVersionsCommand, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand, PutObjectCommand,
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
  /**
   * Keys the deployment writes at run time beside up's objects (each agent's status): down
   * removes their marked versions too (`s3PublishedObjects`), and they do not keep the bucket.
   */
  readonly published?: readonly { readonly what: string; readonly key: string }[];
  /**
   * The key prefix of the agents' status objects (`<prefix>status/`): the bucket's lifecycle rule
   * `STATUS_LIFECYCLE_RULE_ID` expires their noncurrent versions after a day. Absent: no rule.
   */
  readonly statusPrefix?: string;
}

/** The one lifecycle rule up keeps on its bucket, by this ID (rules with other IDs are never touched). */
export const STATUS_LIFECYCLE_RULE_ID = 'overlay-lb-status-noncurrent';

/**
 * The rule: noncurrent versions of the agents' status objects expire one day after they became
 * noncurrent. An agent writes its status at least every 60 s, so without it a node's key grows by
 * ~1,440 versions a day, which cost storage and which down must delete one by one.
 */
export function statusLifecycleRule(statusPrefix: string): LifecycleRule {
  return { ID: STATUS_LIFECYCLE_RULE_ID, Filter: { Prefix: statusPrefix }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 1 } };
}

/** Whether a rule as S3 answers it is exactly up's rule (no other action, no other filter). */
function isStatusRule(rule: LifecycleRule | undefined, statusPrefix: string): boolean {
  if (rule === undefined) return false;
  const { ID, Filter, Status, NoncurrentVersionExpiration: nve, Prefix, ...others } = rule;
  const filterKeys = Object.entries(Filter ?? {}).filter(([, v]) => v !== undefined).map(([k]) => k);
  return ID === STATUS_LIFECYCLE_RULE_ID && Status === 'Enabled' && Prefix === undefined && filterKeys.join() === 'Prefix' && Filter?.Prefix === statusPrefix
    && nve?.NoncurrentDays === 1 && nve.NewerNoncurrentVersions === undefined && Object.values(others).every((v) => v === undefined);
}

/** The plan's word for a missing or different status rule. */
const LIFECYCLE_CHANGE = `lifecycle rule ${STATUS_LIFECYCLE_RULE_ID}`;

/** One entry of ListObjectVersions: a version or a delete marker. */
interface VersionEntry { readonly key: string; readonly versionId: string; readonly marker: boolean }

/** The entries of one key (or of the whole bucket: key undefined); undefined when the bucket is gone. */
async function listVersions(o: S3ResourceOptions, key: string | undefined, signal: AbortSignal): Promise<VersionEntry[] | undefined> {
  const { session, bucket } = o;
  const entries: VersionEntry[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const page = await session.call('s3:ListBucketVersions', `arn:aws:s3:::${bucket}`, (abortSignal) => session.s3.send(new ListObjectVersionsCommand({
      Bucket: bucket, ...(key === undefined ? {} : { Prefix: key }), ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }), ...(versionMarker === undefined ? {} : { VersionIdMarker: versionMarker }),
    }), { abortSignal }), { signal }).catch((err: unknown) => {
      if (isAwsError(err, 'NoSuchBucket')) return undefined;
      throw err;
    });
    if (page === undefined) return undefined;
    // The SDK parses versions and markers into two lists (their order is lost): nothing here needs it.
    const all = [
      ...(page.Versions ?? []).map((v) => ({ key: v.Key ?? '', versionId: v.VersionId ?? 'null', marker: false })),
      ...(page.DeleteMarkers ?? []).map((m) => ({ key: m.Key ?? '', versionId: m.VersionId ?? 'null', marker: true })),
    ];
    entries.push(...all.filter((e) => key === undefined || e.key === key));
    if (page.IsTruncated !== true) return entries;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
}

/** What of one key is up's: versions carrying the ownership metadata, and markers when every version is up's. */
interface KeyShare { readonly ours: readonly VersionEntry[]; readonly others: readonly VersionEntry[] }

/** Whether one version carries this cluster's ownership metadata (undefined: gone meanwhile). */
async function markedVersion(o: S3ResourceOptions, e: VersionEntry, signal: AbortSignal): Promise<boolean | undefined> {
  const { session, bucket, cluster } = o;
  const head = await session.call('s3:GetObjectVersion', `arn:aws:s3:::${bucket}/${e.key}`, (abortSignal) => session.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: e.key, VersionId: e.versionId }), { abortSignal }), { signal })
    .catch((err: unknown) => {
      // Removed between the list and the head (a concurrent down): nothing to decide.
      if (isAwsError(err, 'NoSuchKey', 'NoSuchVersion', 'NotFound')) return undefined;
      throw err;
    });
  return head === undefined ? undefined : head.Metadata?.[OWNER_METADATA] === cluster;
}

/**
 * Which versions of a key are up's. At up's own objects (the spec, the package: a few versions)
 * each version is judged by its metadata. At a key the deployment writes at run time
 * (`published`: a node's status, refreshed every minute, and its pointer) the versions are many
 * and one HeadObject each would make down take hours, so the key is judged as a whole: it is the
 * cluster's by name (the spec's prefix and node, in the bucket up made for this cluster), only
 * the agents and the CLI write it, and every write is marked; when its newest and its oldest
 * versions both carry the mark, every version and marker at the key is taken as the cluster's.
 * Otherwise (someone else wrote there first or last) each version is judged on its own, as at
 * up's objects.
 */
async function shareOfKey(o: S3ResourceOptions, entries: readonly VersionEntry[], signal: AbortSignal): Promise<KeyShare> {
  const versions = entries.filter((x) => !x.marker);
  const key = entries[0]?.key;
  // ListObjectVersions lists a key's versions newest first.
  const newest = versions[0];
  const oldest = versions.at(-1);
  if (key !== undefined && newest !== undefined && oldest !== undefined && (o.published ?? []).some((p) => p.key === key)) {
    if (await markedVersion(o, newest, signal) === true && (oldest === newest || await markedVersion(o, oldest, signal) === true)) {
      return { ours: [...entries.filter((x) => x.marker), ...versions], others: [] };
    }
  }
  const ours: VersionEntry[] = [];
  const others: VersionEntry[] = [];
  for (const e of versions) {
    const marked = await markedVersion(o, e, signal);
    if (marked !== undefined) (marked ? ours : others).push(e);
  }
  const markers = entries.filter((x) => x.marker);
  if (ours.length > 0 && others.length === 0) ours.unshift(...markers);
  else others.push(...markers);
  return { ours, others };
}

/** S3's limit of keys or versions per DeleteObjects call. */
const DELETE_BATCH = 1000;

/**
 * Deletes each entry by version id (a permanent delete: no new marker), up to 1,000 per
 * DeleteObjects call (IAM checks `s3:DeleteObjectVersion` per key), the markers before the
 * versions, so that a down killed midway never leaves a key of bare markers behind. A key the
 * call reports as failed fails the removal, named.
 */
async function deleteEntries(o: S3ResourceOptions, entries: readonly VersionEntry[], signal: AbortSignal): Promise<void> {
  const { session, bucket } = o;
  for (const group of [entries.filter((e) => e.marker), entries.filter((e) => !e.marker)]) {
    for (let i = 0; i < group.length; i += DELETE_BATCH) {
      const batch = group.slice(i, i + DELETE_BATCH);
      const first = batch[0]!;
      const out = await session.call('s3:DeleteObjectVersion', `arn:aws:s3:::${bucket}/${first.key}`, (abortSignal) => session.s3.send(new DeleteObjectsCommand({
        Bucket: bucket, Delete: { Quiet: true, Objects: batch.map((e) => ({ Key: e.key, VersionId: e.versionId })) },
      }), { abortSignal }), { signal })
        .catch((err: unknown) => {
          if (isAwsError(err, 'NoSuchBucket')) return undefined;
          throw err;
        });
      const failed = (out?.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey' && e.Code !== 'NoSuchVersion');
      const f = failed[0];
      if (f === undefined) continue;
      const what = `s3://${bucket}/${f.Key ?? '?'} version ${f.VersionId ?? '?'}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ''}`;
      if (f.Code === 'AccessDenied') {
        throw new OverlayError('CLOUD_UNAUTHORIZED', `the credentials running overlay-lb down may not delete ${what} (DeleteObjects: AccessDenied): grant s3:DeleteObjectVersion on arn:aws:s3:::${bucket}/${f.Key ?? '*'} (docs/provisioning.md lists every action down needs)`, { details: { permission: 's3:DeleteObjectVersion', resource: `arn:aws:s3:::${bucket}/${f.Key ?? ''}`, awsCode: 'AccessDenied' } });
      }
      throw new OverlayError('CLOUD_UNAVAILABLE', `S3 did not delete ${what}: ${f.Code ?? '?'}: ${f.Message ?? ''}; run down again`, { details: { awsCode: f.Code ?? '' } });
    }
  }
}

/** How down sees one of up's keys: owned while a marked version is left. */
async function observeKeyRemoval(o: S3ResourceOptions, key: string, signal: AbortSignal): Promise<ObservedResource> {
  const entries = await listVersions(o, key, signal);
  if (entries === undefined || entries.length === 0) return { state: 'absent' };
  const share = await shareOfKey(o, entries, signal);
  if (share.ours.length > 0) return { state: 'owned', changes: [] };
  return {
    state: 'foreign',
    reason: `not made by up: s3://${o.bucket}/${key} holds ${share.others.length} version${share.others.length === 1 ? '' : 's'} or delete marker${share.others.length === 1 ? '' : 's'} without the metadata ${OWNER_METADATA}=${o.cluster}`,
    fix: 'down never deletes them',
  };
}

async function removeKey(o: S3ResourceOptions, key: string, signal: AbortSignal): Promise<void> {
  const entries = await listVersions(o, key, signal);
  if (entries === undefined) return;
  await deleteEntries(o, (await shareOfKey(o, entries, signal)).ours, signal);
}

/**
 * The keys the deployment writes at run time (`published`), as resources that only down uses:
 * their marked versions are removed like up's objects. Up never creates them.
 */
export function s3PublishedObjects(o: S3ResourceOptions): ProvisionResource[] {
  const never = (label: string) => (): Promise<void> => Promise.reject(new OverlayError('INTERNAL', `${label} is written by the agents, never by up`));
  return (o.published ?? []).map((p): ProvisionResource => {
    const label = `S3 object s3://${o.bucket}/${p.key} (${p.what})`;
    return {
      kind: 's3-object', label, dependsOn: [`S3 bucket ${o.bucket}`],
      observe: ({ signal }) => observeKeyRemoval(o, p.key, signal),
      create: never(label), update: never(label),
      remove: ({ signal }) => removeKey(o, p.key, signal),
    };
  });
}

/**
 * Down's side of the bucket: owned and holding nothing but up's (marked) versions at up's keys.
 * Anything else in it (another key, an unmarked version) keeps the bucket, named in the message.
 */
function bucketRemoval(o: S3ResourceOptions, self: () => ProvisionResource): Pick<ProvisionResource, 'observeRemoval' | 'remove'> {
  const { session, bucket } = o;
  const bucketArn = `arn:aws:s3:::${bucket}`;
  return {
    observeRemoval: async ({ signal }): Promise<ObservedResource> => {
      const seen = await self().observe({ signal });
      if (seen.state !== 'owned') return seen.state === 'absent' ? seen : { state: 'foreign', reason: `not made by up: ${seen.reason}`, fix: 'down never deletes it' };
      const entries = await listVersions(o, undefined, signal);
      if (entries === undefined) return { state: 'absent' };
      const ourKeys = new Set([...o.objects.map((x) => x.key), ...(o.published ?? []).map((x) => x.key)]);
      const foreign = entries.filter((e) => !ourKeys.has(e.key));
      for (const key of ourKeys) {
        const atKey = entries.filter((e) => e.key === key);
        if (atKey.length > 0) foreign.push(...(await shareOfKey(o, atKey, signal)).others);
      }
      if (foreign.length === 0) return { state: 'owned', changes: [] };
      const first = foreign[0]!;
      return {
        state: 'foreign',
        reason: `S3 bucket ${bucket} is this cluster's, but holds ${foreign.length} object version${foreign.length === 1 ? '' : 's'} or delete marker${foreign.length === 1 ? '' : 's'} that up did not write (the first: ${first.key}${first.marker ? ' (a delete marker)' : ''}), so down keeps the bucket and them`,
        fix: `delete them if they are no longer needed (aws s3api list-object-versions --bucket ${bucket}) and run down again, or keep the bucket`,
      };
    },
    remove: async ({ signal }) => {
      await session.call('s3:DeleteBucket', bucketArn, (abortSignal) => session.s3.send(new DeleteBucketCommand({ Bucket: bucket }), { abortSignal }), { signal })
        .catch((err: unknown) => {
          if (!isAwsError(err, 'NoSuchBucket')) throw err;
        });
    },
  };
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
  /** The bucket's lifecycle rules ([] when it has none). */
  const lifecycleRules = async (signal: AbortSignal): Promise<LifecycleRule[]> => session.call('s3:GetLifecycleConfiguration', bucketArn, (abortSignal) => session.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }), { abortSignal }), { signal })
    .then((r) => r.Rules ?? [], (err: unknown) => {
      if (isAwsError(err, 'NoSuchLifecycleConfiguration')) return [];
      throw err;
    });
  /**
   * Puts up's rule, keeping every other rule of the bucket as it is (a Put replaces the whole
   * configuration, so the others are read first and sent back).
   */
  const putStatusRule = async (statusPrefix: string, signal: AbortSignal): Promise<void> => {
    const others = (await lifecycleRules(signal)).filter((r) => r.ID !== STATUS_LIFECYCLE_RULE_ID);
    await session.call('s3:PutLifecycleConfiguration', bucketArn, (abortSignal) => session.s3.send(new PutBucketLifecycleConfigurationCommand({
      Bucket: bucket, LifecycleConfiguration: { Rules: [...others, statusLifecycleRule(statusPrefix)] },
    }), { abortSignal }), { signal });
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
      const changes = versioning.Status === 'Enabled' ? [] : ['versioning'];
      if (o.statusPrefix !== undefined) {
        const rules = await lifecycleRules(signal);
        if (!isStatusRule(rules.find((r) => r.ID === STATUS_LIFECYCLE_RULE_ID), o.statusPrefix)) changes.push(LIFECYCLE_CHANGE);
      }
      return { state: 'owned', changes };
    },
    create: async ({ signal }) => {
      // Tagged in the same call: a run killed right after it leaves a bucket up recognises.
      await session.call('s3:CreateBucket', bucketArn, (abortSignal) => session.s3.send(new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { ...(session.region === 'us-east-1' ? {} : { LocationConstraint: session.region as BucketLocationConstraint }), Tags: ownershipTags(cluster) },
      }), { abortSignal }), { signal });
      await enableVersioning(signal);
      if (o.statusPrefix !== undefined) await putStatusRule(o.statusPrefix, signal);
    },
    update: async (changes, { signal }) => {
      if (changes.includes('versioning')) await enableVersioning(signal);
      if (changes.includes(LIFECYCLE_CHANGE) && o.statusPrefix !== undefined) await putStatusRule(o.statusPrefix, signal);
    },
    ...bucketRemoval(o, () => bucketResource),
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
      observeRemoval: ({ signal }) => observeKeyRemoval(o, object.key, signal),
      remove: ({ signal }) => removeKey(o, object.key, signal),
    };
  });
  return [bucketResource, ...objects];
}
