/**
 * What `overlay-lb up`'s plan/apply engine (src/provision/engine.ts) needs from one resource, with
 * no SDK in sight: a provider (src/cloud/aws/provision/) builds one `ProvisionResource` per
 * resource the spec asks for, in dependency order; the engine observes them all (reads only),
 * prints the plan, and creates or changes them in that order. Adding a resource kind (security
 * group, instances, VIP routes) is adding a builder there, never touching the engine.
 */

/**
 * What a resource looks like now, from the caller's side:
 * - `absent`: nothing with its name exists (create it);
 * - `owned`: it exists and carries this cluster's ownership tag; `changes` lists what differs
 *   from the spec (empty: leave it alone); `notes` what differs but up leaves as it is, because
 *   changing it would interrupt service (an instance launched with another type, image or
 *   address), each saying what the user can do: shown in the plan, never acted on;
 * - `foreign`: something with its name exists without the ownership tag (or is unreadable): it is
 *   never changed; `reason` says what was found and `fix` what the user can do.
 */
export type ObservedResource =
  | { readonly state: 'absent' }
  | { readonly state: 'owned'; readonly changes: readonly string[]; readonly notes?: readonly string[] }
  | { readonly state: 'foreign'; readonly reason: string; readonly fix: string };

export interface ProvisionResource {
  /** The kind (`iam-role`, `s3-object`): a key of the provider's kind registry. */
  readonly kind: string;
  /** This resource, unique in a plan, in the user's terms: `IAM role overlay-lb-shop`. */
  readonly label: string;
  /** Labels of resources that must exist first; a conflict there blocks this one. */
  readonly dependsOn: readonly string[];
  /** Reads only. */
  observe(options: { readonly signal: AbortSignal }): Promise<ObservedResource>;
  /**
   * Creates it, tagged as owned. Safe to run again after an interrupted run (a name or token
   * makes the second call find the first one's result instead of making a second resource).
   */
  create(options: { readonly signal: AbortSignal }): Promise<void>;
  /** Brings an owned resource to the spec (`changes` as observed). */
  update(changes: readonly string[], options: { readonly signal: AbortSignal }): Promise<void>;
  /**
   * Deletes an owned resource (`overlay-lb down`), waiting until it is gone where the cloud
   * deletes asynchronously; deleting one already gone succeeds. Never called on a `foreign` one.
   * Optional while the kinds gain it; `down` refuses a plan with a kind that has none.
   */
  remove?(options: { readonly signal: AbortSignal }): Promise<void>;
  /**
   * What `down` sees, when it differs from `observe` (@default `observe`): `owned` while anything
   * of this resource that up made is left (an older object version under a foreign one; an inline
   * policy only when its role is this cluster's), `absent` when nothing of it is, `foreign` when
   * something there is not up's to remove (`reason` says what, `fix` what the user can do).
   * `changes` means nothing to down. Reads only.
   */
  observeRemoval?(options: { readonly signal: AbortSignal }): Promise<ObservedResource>;
}

/** A kind the provider will provision but does not yet: named in every plan, so nobody assumes it is there. */
export interface PendingKind {
  readonly kind: string;
  /** `security group`, in the user's terms. */
  readonly label: string;
  /** What it waits for. */
  readonly why: string;
}
