/**
 * Runs a discovery source for a test and records what it reports; `waitFor` polls the record
 * (bounded in time) so tests wait for a state, not for a fixed delay.
 */
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DiscoverySourceRunner, Logger, Snapshot, SourceEvent } from '../../src/discovery/types.js';

export interface Collected {
  readonly events: SourceEvent[];
  readonly logs: { level: string; msg: string; fields: Readonly<Record<string, unknown>> }[];
  /** The latest snapshot reported, if any. */
  latest(): Snapshot | undefined;
  /** Addresses:ports of the latest snapshot, sorted. */
  latestKeys(): string[];
  snapshotCount(): number;
  /** Polls `predicate` every 20 ms until true; fails after `timeoutMs`. */
  waitFor(what: string, predicate: () => boolean, timeoutMs?: number): Promise<void>;
}

/** A logger that records into `logs`. */
export function recordingLogger(logs: Collected['logs']): Logger {
  const at = (level: string) => (fields: Readonly<Record<string, unknown>>, msg: string): void => {
    logs.push({ level, msg, fields });
  };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

/** Starts `source.run` and stops it in t.after. */
export function runSource(t: TestContext, source: DiscoverySourceRunner): Collected {
  const events: SourceEvent[] = [];
  const logs: Collected['logs'] = [];
  const ctl = new AbortController();
  const done = source.run({ signal: ctl.signal, onEvent: (e) => events.push(e) });
  t.after(async () => {
    ctl.abort();
    await done;
  });
  const snapshots = (): Snapshot[] => events.flatMap((e) => (e.kind === 'snapshot' ? [e.snapshot] : []));
  return {
    events,
    logs,
    latest: () => snapshots().at(-1),
    latestKeys: () => (snapshots().at(-1)?.servers ?? []).map((s) => `${s.address}:${s.port}${s.weight === undefined ? '' : `/${s.weight}`}`).sort(),
    snapshotCount: () => snapshots().length,
    waitFor: async (what, predicate, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}; health=${JSON.stringify(source.health())}; events=${JSON.stringify(events.slice(-5))}`);
        await sleep(20);
      }
    },
  };
}
