/**
 * `etcd` source: every key under a prefix, each value a JSON `{address, port, weight?, name?}`,
 * read and watched through etcd v3's HTTP/JSON gateway (no client package needed):
 * `POST /v3/kv/range` with base64 key and range_end, then `POST /v3/watch`, a stream of JSON
 * messages (https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/).
 *
 * On any watch event the whole prefix is read again: a full snapshot is simpler to get right
 * than replaying events, and a prefix of service instances is small.
 */
import type { Clock } from '../util/clock.js';
import { type BackoffOptions, createSourceRunner, unavailable, commonRunnerOptions } from './source-runner.js';
import type { DiscoverySourceRunner, Logger } from './types.js';
import { timeoutSignal } from '../util/abort.js';

export interface EtcdSourceOptions {
  readonly name: string;
  /** Client URLs, for example `http://10.0.0.5:2379`; tried in turn on each reconnect. */
  readonly endpoints: readonly string[];
  readonly prefix: string;
  /** Timeout of one range request. @default 5000 */
  readonly requestTimeoutMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly backoff?: BackoffOptions;
  readonly maxEntries?: number;
}

interface RangeResponse {
  readonly header?: { readonly revision?: string };
  readonly kvs?: readonly { readonly key?: string; readonly value?: string }[];
}

interface WatchMessage {
  readonly result?: {
    readonly created?: boolean;
    readonly canceled?: boolean;
    readonly compact_revision?: string;
    readonly cancel_reason?: string;
    readonly events?: readonly unknown[];
  };
  readonly error?: { readonly message?: string };
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** The smallest key greater than every key with this prefix (etcd's `GetPrefixRangeEnd`). */
export function prefixRangeEnd(prefix: string): Uint8Array {
  const end = Buffer.from(prefix, 'utf8');
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff (or empty): range to the end of the keyspace.
  return Uint8Array.of(0);
}

/** Creates an `etcd` source. */
export function createEtcdSource(options: EtcdSourceOptions): DiscoverySourceRunner {
  const source = { name: options.name, type: 'etcd' };
  const key = b64(Buffer.from(options.prefix, 'utf8'));
  const rangeEnd = b64(prefixRangeEnd(options.prefix));
  let next = 0;

  const post = async (url: string, body: unknown, signal: AbortSignal): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
    } catch (err) {
      signal.throwIfAborted();
      throw unavailable(source, `POST ${url} failed`, err);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw unavailable(source, `POST ${url}`, new Error(`HTTP ${res.status} ${text.slice(0, 200)}`));
    }
    return res;
  };

  return createSourceRunner({
    ...source,
    ...commonRunnerOptions(options),
    session: async (ctx) => {
      const endpoint = (options.endpoints[next++ % options.endpoints.length] ?? '').replace(/\/+$/, '');
      const readAll = async (): Promise<bigint> => {
        const signal = timeoutSignal(options.requestTimeoutMs ?? 5000, ctx.signal);
        const res = await post(`${endpoint}/v3/kv/range`, { key, range_end: rangeEnd }, signal);
        const body = (await res.json()) as RangeResponse;
        const raw: unknown[] = [];
        const bad: string[] = [];
        for (const kv of body.kvs ?? []) {
          const k = Buffer.from(kv.key ?? '', 'base64').toString('utf8');
          try {
            raw.push(JSON.parse(Buffer.from(kv.value ?? '', 'base64').toString('utf8')));
          } catch {
            bad.push(k);
          }
        }
        if (bad.length > 0) ctx.invalid(`${bad.length} value(s) under ${options.prefix} are not JSON {address, port, weight?} (first: key ${bad[0]})`);
        else ctx.emit(raw);
        return BigInt(body.header?.revision ?? '0');
      };

      const revision = await readAll();
      const res = await post(`${endpoint}/v3/watch`, { create_request: { key, range_end: rangeEnd, start_revision: (revision + 1n).toString() } }, ctx.signal);
      if (!res.body) throw unavailable(source, 'watch', new Error('empty response body'));
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (line === '') continue;
            const msg = JSON.parse(line) as WatchMessage;
            if (msg.error) throw new Error(`watch error: ${msg.error.message ?? line}`);
            const r = msg.result;
            if (!r) continue;
            if (r.canceled || r.compact_revision !== undefined) {
              throw new Error(`watch canceled (${r.cancel_reason ?? `compacted at ${r.compact_revision ?? '?'}`}); re-reading`);
            }
            if (r.events && r.events.length > 0) await readAll();
            else ctx.alive();
          }
        }
      } catch (err) {
        ctx.signal.throwIfAborted();
        throw unavailable(source, `watch on ${endpoint} broke`, err);
      }
    },
  });
}
