import { countCloudCall, guardedCall } from '../cloud/guarded-call.js';
import type { AddressApi } from '../cloud/types.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { OverlayError } from '../util/errors.js';
import type { TokenBucket } from '../util/token-bucket.js';
import type { Claimer, ClaimOutcome, Holder, ResourceView } from './types.js';
import type { FailoverMetrics } from './metrics.js';

export interface EipClaimerOptions {
  readonly api: AddressApi;
  readonly allocationId: string;
  readonly networkInterfaceId: string;
  /** Our private address on that ENI (the EIP maps to it). */
  readonly privateIp: string;
  readonly peers: readonly { readonly node: string; readonly address: string; readonly priority: number }[];
  readonly buckets: { readonly mutating: TokenBucket; readonly describe: TokenBucket };
  readonly clock?: Clock;
  readonly metrics?: FailoverMetrics;
  /** @default 30000 */
  readonly deadlineMs?: number;
}

/**
 * Mode `eip`: the one resource is the Elastic IP; the claim is AssociateAddress with
 * AllowReassociation to our ENI, read back with DescribeAddresses until it shows us. The same
 * controller state machine drives it as route tables.
 */
export class EipClaimer implements Claimer {
  readonly mode = 'eip' as const;
  readonly #o: EipClaimerOptions;
  readonly #clock: Clock;

  constructor(options: EipClaimerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  list(): Promise<readonly string[]> {
    return Promise.resolve([this.#o.allocationId]);
  }

  async claim(resources: readonly string[], signal: AbortSignal): Promise<readonly ClaimOutcome[]> {
    const start = this.#clock.now();
    const deadline = start + (this.#o.deadlineMs ?? 30_000);
    const out: ClaimOutcome[] = [];
    for (const id of resources) {
      try {
        const before = await this.#describe(id, signal, deadline);
        if (before.networkInterfaceId === this.#o.networkInterfaceId && before.privateIp === this.#o.privateIp) {
          out.push({ kind: 'already-ours', table: id, ms: this.#clock.now() - start });
          continue;
        }
        let calls = 0;
        for (;;) {
          await this.#call('AssociateAddress', this.#o.buckets.mutating, signal, deadline, (s) => this.#o.api.associateAddress({ allocationId: id, networkInterfaceId: this.#o.networkInterfaceId, privateIp: this.#o.privateIp }, { signal: s }));
          calls++;
          // Read back (the API is eventually consistent) a few times before writing again.
          let shown = false;
          for (let i = 0; i < 5 && !shown; i++) {
            await this.#clock.sleep(50 * 2 ** i, signal);
            const now = await this.#describe(id, signal, deadline);
            shown = now.networkInterfaceId === this.#o.networkInterfaceId;
          }
          if (shown) break;
          if (this.#clock.now() > deadline) throw new OverlayError('CLOUD_UNAVAILABLE', `Elastic IP ${id} did not show ${this.#o.networkInterfaceId} before the deadline`);
        }
        out.push({ kind: 'claimed', table: id, ms: this.#clock.now() - start, calls });
      } catch (err) {
        if (signal.aborted) out.push({ kind: 'aborted', table: id, ms: this.#clock.now() - start });
        else out.push({ kind: 'failed', table: id, ms: this.#clock.now() - start, code: err instanceof OverlayError ? err.code : 'INTERNAL', reason: (err as Error).message });
      }
    }
    return out;
  }

  async inspect(resources: readonly string[], signal: AbortSignal): Promise<readonly ResourceView[]> {
    const views: ResourceView[] = [];
    for (const id of resources) {
      const a = await this.#describe(id, signal, this.#clock.now() + 10_000);
      views.push({ id, holder: this.#holder(a.networkInterfaceId, a.privateIp) });
    }
    return views;
  }

  #holder(eni: string | null, privateIp: string | null): Holder {
    if (eni === null) return { kind: 'none' };
    if (eni === this.#o.networkInterfaceId) return { kind: 'us' };
    const peer = this.#o.peers.find((p) => p.address === privateIp);
    return peer ? { kind: 'peer', node: peer.node, priority: peer.priority, networkInterfaceId: eni } : { kind: 'other', target: eni };
  }

  #describe(id: string, signal: AbortSignal, deadline: number): ReturnType<AddressApi['describeAddress']> {
    return this.#call('DescribeAddresses', this.#o.buckets.describe, signal, deadline, (s) => this.#o.api.describeAddress({ allocationId: id }, { signal: s }));
  }

  #call<T>(action: string, bucket: TokenBucket, signal: AbortSignal, deadline: number, fn: (s: AbortSignal) => Promise<T>): Promise<T> {
    const onEvent = countCloudCall(this.#o.metrics);
    return guardedCall({ action, bucket, signal, deadline, clock: this.#clock, ...(onEvent ? { onEvent } : {}) }, fn);
  }
}
