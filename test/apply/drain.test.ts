/**
 * Draining and slow start with a real haproxy (issue 15 item 5), under keep-alive clients and
 * long-running requests. Long requests are held open by the backend until the test releases them
 * (test/apply/slow-backends.ts), so "in flight while the server is removed" is a fact the test
 * arranges, not a guess about timing. Every wait is on observable state (`show servers state`,
 * `show stat`, the backends' own counters) under a generous deadline; every load loop is bounded
 * in count and by the test's deadline.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApplyPipeline, type ApplyPipeline } from '../../src/apply/pipeline.js';
import type { ServerStateRow } from '../../src/haproxy/runtime-api.js';
import { createLogger } from '../../src/util/log.js';
import { NODE, parse, reloads, specYaml, startNode, waitFor, writeServers, type Node, type SpecParams } from './fixture.js';
import { send, startSlowBackends, type Outcome, type SlowBackendSet } from './slow-backends.js';

const fileSource = (dir: string): string => `{ name: svc-src, type: file, path: ${join(dir, 'svc.json')} }`;
/** Requests per keep-alive client at most (a bound; the tests stop the load long before). */
const MAX_PER_CLIENT = 4000;
/** Held requests sent at most while looking for some that land on the server to remove. */
const MAX_HELD = 40;

/**
 * Starts the pipeline; `stop()` waits until it is idle and stops it. Call it at the end of a test:
 * the fixture's after hooks (registered first) remove the run dir, which must not race an apply
 * still writing its files (a runtime plan writes the file after its Runtime API commands).
 */
function startPipeline(t: TestContext, node: Node, spec: Partial<SpecParams>): ApplyPipeline & { stop(signal: AbortSignal): Promise<void> } {
  const parsed = parse(specYaml({ ...node.params, ...spec }));
  const pipeline = createApplyPipeline({
    spec: parsed.spec,
    specHash: parsed.hash,
    node: NODE,
    runDir: node.dir,
    haproxy: { runtime: node.runtime, reloader: node.haproxy },
    log: createLogger({ write: () => undefined, level: 'error' }),
    aggregator: { minWaitMs: 50, maxWaitMs: 500 },
    retry: { minMs: 100, maxMs: 1000 },
  });
  const ctl = new AbortController();
  const running = pipeline.run(ctl.signal);
  const stop = async (): Promise<void> => {
    ctl.abort();
    await running;
  };
  t.after(stop);
  return Object.assign(pipeline, {
    stop: async (signal: AbortSignal): Promise<void> => {
      await pipeline.idle(signal);
      await stop();
    },
  });
}

async function settled(pipeline: ApplyPipeline, generation: number, signal: AbortSignal): Promise<void> {
  await waitFor(`generation ${generation} applied`, () => (pipeline.status().appliedGeneration >= generation && !pipeline.status().pending && !pipeline.status().applying ? true : undefined), { signal });
}

function members(slow: SlowBackendSet, ...names: string[]): { address: string; port: number }[] {
  return names.map((n) => ({ address: '127.0.0.1', port: slow.portOf(n) }));
}

/** The spare slot of `backend` that holds 127.0.0.1:`port`, as the running haproxy reports it. */
async function slotOf(node: Node, backend: string, port: number, signal: AbortSignal): Promise<ServerStateRow | undefined> {
  const rows = await node.runtime.showServersState(backend, { signal });
  return rows.find((r) => r.server.startsWith('olb-spare-') && r.addr === '127.0.0.1' && r.port === port);
}

interface Load {
  readonly outcomes: Outcome[];
  stop(): Promise<Outcome[]>;
}

/** `clients` keep-alive clients (one connection each), each sending GETs one after another. */
function keepAliveLoad(options: { readonly port: number; readonly path: string; readonly clients: number; readonly signal: AbortSignal }): Load {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const loops = Array.from({ length: options.clients }, async (_, c) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < MAX_PER_CLIENT && !stopped && !options.signal.aborted; i++) {
        outcomes.push(await send({ port: options.port, path: options.path, id: `ka${c}-${i}`, agent, signal: options.signal }));
        await sleep(10, undefined, { signal: options.signal });
      }
    } catch (err) {
      // Only the test's deadline ends a loop early; the test reports that itself.
      if (!options.signal.aborted) throw err;
    } finally {
      agent.destroy();
    }
  });
  return {
    outcomes,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/**
 * Sends held requests (each on its own connection) until `want` of them are open on `target`;
 * returns every one sent (those on other servers included: they must finish too).
 */
async function holdOn(slow: SlowBackendSet, target: string, want: number, options: { readonly port: number; readonly path: string; readonly signal: AbortSignal }): Promise<{ id: string; done: Promise<Outcome> }[]> {
  const sent: { id: string; done: Promise<Outcome> }[] = [];
  for (let i = 0; i < MAX_HELD && slow.active(target) < want; i++) {
    const id = `hold-${i}`;
    sent.push({ id, done: send({ port: options.port, path: `${options.path}?hold=1`, id, agent: false, signal: options.signal }) });
    // Wait until a backend has it open (none is released here), to know where it landed before sending the next.
    await waitFor(`held request ${id} open`, () => (totalHeld(slow) >= sent.length ? true : undefined), options);
  }
  assert.ok(slow.active(target) >= want, `only ${slow.active(target)} of ${want} held requests reached ${target} in ${sent.length} tries`);
  return sent;
}

function totalHeld(slow: SlowBackendSet): number {
  return ['k1', 'k2'].reduce((n, b) => n + slow.active(b), 0);
}

function failures(outcomes: readonly Outcome[]): string[] {
  return outcomes.filter((o) => o.error !== undefined).map((o) => `${o.id}: ${o.error ?? ''}`);
}

/** Requests sent after `at` that `backend` answered. */
function servedAfter(outcomes: readonly Outcome[], backend: string, at: number): string[] {
  return outcomes.filter((o) => o.sentAt > at && o.backend === backend).map((o) => o.id);
}

void test('a server removed by discovery drains: held and keep-alive requests finish, no new request reaches it, at its deadline it goes and what still runs is cut', async (t) => {
  const signal = AbortSignal.timeout(180_000);
  setMaxListeners(100, signal); // one listener per request in flight
  const slow = await startSlowBackends({ names: ['k1', 'k2'], signal });
  t.after(() => slow.close());
  const spec: Partial<SpecParams> = { drainTime: '20s' };
  const node = await startNode(t, { signal, source: fileSource, servers: 0, spec });
  const file = join(node.dir, 'svc.json');
  await writeServers(file, members(slow, 'k1', 'k2'));
  const pipeline = startPipeline(t, node, spec);
  await settled(pipeline, 1, signal);
  const port = node.params.port;

  // GIVEN keep-alive clients served by both servers and requests held open on k2
  const load = keepAliveLoad({ port, path: '/', clients: 2, signal });
  t.after(async () => {
    slow.release();
    await load.stop();
  });
  await waitFor('keep-alive requests on both servers', () => (['k1', 'k2'].every((b) => slow.received(b).some((id) => id.startsWith('ka'))) ? true : undefined), { signal });
  const held = await holdOn(slow, 'k2', 2, { port, path: '/', signal });
  const heldOnK2 = held.filter((h) => slow.received('k2').includes(h.id)).map((h) => h.id);
  const reloadsBefore = await reloads(node, signal);

  // WHEN discovery drops k2
  await writeServers(file, members(slow, 'k1'));
  const draining = await waitFor('k2 draining', async () => ((await slotOf(node, 'svc', slow.portOf('k2'), signal))?.admin === 'drain' ? true : undefined), { signal });
  const removedAt = Date.now();
  assert.ok(draining);

  // THEN its held requests still run, and new requests (keep-alive ones included) go to k1 only
  assert.equal(slow.active('k2'), heldOnK2.length, 'the held requests on k2 still run while it drains');
  const sentBefore = load.outcomes.length;
  await waitFor('100 keep-alive requests after the removal', () => (load.outcomes.length >= sentBefore + 100 ? true : undefined), { signal, timeoutMs: 60_000 });
  assert.deepEqual(servedAfter(load.outcomes, 'k2', removedAt), []);

  // WHEN all held requests but one on k2 are released, THEN they complete
  const keep = heldOnK2[heldOnK2.length - 1] ?? '';
  slow.release((id) => id !== keep);
  const finished = await Promise.all(held.filter((h) => h.id !== keep).map((h) => h.done));
  assert.deepEqual(failures(finished), []);
  assert.deepEqual(finished.filter((o) => heldOnK2.includes(o.id)).map((o) => o.backend), heldOnK2.slice(0, -1).map(() => 'k2'));

  // WHEN the drain time is over, THEN k2's slot is in maintenance and the request still open on it is cut
  await waitFor('k2 in maintenance after its drain time', async () => ((await slotOf(node, 'svc', slow.portOf('k2'), signal))?.admin === 'maint' ? true : undefined), { signal, timeoutMs: 90_000 });
  const cut = await held.find((h) => h.id === keep)?.done;
  assert.ok(cut?.error !== undefined, `the request held past the drain time was cut: ${JSON.stringify(cut)}`);
  await waitFor('nothing open on k2', () => (slow.active('k2') === 0 ? true : undefined), { signal });

  const all = await load.stop();
  assert.deepEqual(failures(all), []);
  assert.deepEqual(servedAfter(all, 'k2', removedAt), []);
  assert.ok(all.some((o) => o.backend === 'k2' && o.sentAt < removedAt), 'k2 served keep-alive requests before its removal');
  assert.equal(await reloads(node, signal), reloadsBefore, 'draining needs no reload');
  await pipeline.stop(signal);
});

void test('a reload while a server drains keeps it draining: no new request reaches it, its requests finish, it goes at its deadline', async (t) => {
  const signal = AbortSignal.timeout(180_000);
  setMaxListeners(100, signal); // one listener per request in flight
  const slow = await startSlowBackends({ names: ['k1', 'k2'], signal });
  t.after(() => slow.close());
  const spec: Partial<SpecParams> = { drainTime: '20s' };
  const node = await startNode(t, { signal, source: fileSource, servers: 0, spec });
  const file = join(node.dir, 'svc.json');
  await writeServers(file, members(slow, 'k1', 'k2'));
  const pipeline = startPipeline(t, node, spec);
  await settled(pipeline, 1, signal);
  const port = node.params.port;

  const load = keepAliveLoad({ port, path: '/', clients: 2, signal });
  t.after(async () => {
    slow.release();
    await load.stop();
  });
  await waitFor('keep-alive requests on both servers', () => (['k1', 'k2'].every((b) => slow.received(b).some((id) => id.startsWith('ka'))) ? true : undefined), { signal });
  const held = await holdOn(slow, 'k2', 1, { port, path: '/', signal });
  await writeServers(file, members(slow, 'k1'));
  await waitFor('k2 draining', async () => ((await slotOf(node, 'svc', slow.portOf('k2'), signal))?.admin === 'drain' ? true : undefined), { signal });
  const removedAt = Date.now();

  // WHEN a spec change that needs a reload is applied during the drain
  const before = await reloads(node, signal);
  const changed = parse(specYaml({ ...node.params, ...spec, serverTimeout: '31s' }));
  const outcome = await pipeline.applySpec(changed.spec, changed.hash);
  assert.equal(outcome.result.kind, 'reloaded', JSON.stringify(outcome.result));
  assert.equal(await reloads(node, signal), before + 1);

  // THEN the new worker has k2 draining, with its weight as the state says
  const row = await slotOf(node, 'svc', slow.portOf('k2'), signal);
  assert.equal(row?.admin, 'drain', JSON.stringify(row));
  assert.equal(row.weight, 100);
  const sentBefore = load.outcomes.length;
  await waitFor('100 keep-alive requests after the reload', () => (load.outcomes.length >= sentBefore + 100 ? true : undefined), { signal, timeoutMs: 60_000 });
  assert.deepEqual(servedAfter(load.outcomes, 'k2', removedAt), []);

  // THEN the requests held on k2 across the reload complete (the old worker finishes them)
  slow.release();
  const finished = await Promise.all(held.map((h) => h.done));
  assert.deepEqual(failures(finished), []);
  assert.ok(finished.some((o) => o.backend === 'k2'));

  // THEN k2 goes at its deadline, and nobody failed
  await waitFor('k2 in maintenance after its drain time', async () => ((await slotOf(node, 'svc', slow.portOf('k2'), signal))?.admin === 'maint' ? true : undefined), { signal, timeoutMs: 90_000 });
  const all = await load.stop();
  assert.deepEqual(failures(all), []);
  assert.deepEqual(servedAfter(all, 'k2', removedAt), []);
  await pipeline.stop(signal);
});

void test('a static server removed by a spec change: the reload takes it out of load balancing, its held and keep-alive requests finish', async (t) => {
  const signal = AbortSignal.timeout(120_000);
  setMaxListeners(100, signal); // one listener per request in flight
  const slow = await startSlowBackends({ names: ['k1', 'k2'], signal });
  t.after(() => slow.close());
  const spec: Partial<SpecParams> = { active: 'green' };
  // green = [g1 -> k1, g2 -> k2]; /checkout goes to green.
  const node = await startNode(t, { signal, source: fileSource, servers: 0, spec: { ...spec, green: slow.portOf('k1'), green2: slow.portOf('k2') } });
  await writeServers(join(node.dir, 'svc.json'), []);
  const pipeline = startPipeline(t, node, spec);
  await pipeline.idle(signal);
  const port = node.params.port;

  const load = keepAliveLoad({ port, path: '/checkout', clients: 2, signal });
  t.after(async () => {
    slow.release();
    await load.stop();
  });
  await waitFor('keep-alive requests on both servers', () => (['k1', 'k2'].every((b) => slow.received(b).some((id) => id.startsWith('ka'))) ? true : undefined), { signal });
  const held = await holdOn(slow, 'k2', 2, { port, path: '/checkout', signal });

  // WHEN the spec drops g2
  const before = await reloads(node, signal);
  const { green2: _dropped, ...withoutG2 } = node.params;
  const changed = parse(specYaml(withoutG2));
  const outcome = await pipeline.applySpec(changed.spec, changed.hash);
  const removedAt = Date.now();
  assert.equal(outcome.result.kind, 'reloaded', JSON.stringify(outcome.result));
  assert.equal(await reloads(node, signal), before + 1);
  assert.deepEqual((await node.runtime.showServersState('green', { signal })).map((r) => r.server), ['g1']);

  // THEN requests sent after the reload go to g1 only, and the held ones on k2 finish
  const sentBefore = load.outcomes.length;
  await waitFor('100 keep-alive requests after the reload', () => (load.outcomes.length >= sentBefore + 100 ? true : undefined), { signal, timeoutMs: 60_000 });
  slow.release();
  const finished = await Promise.all(held.map((h) => h.done));
  assert.deepEqual(failures(finished), []);
  assert.ok(finished.some((o) => o.backend === 'k2'));
  const all = await load.stop();
  assert.deepEqual(failures(all), []);
  assert.deepEqual(servedAfter(all, 'k2', removedAt), []);
  await pipeline.stop(signal);
});

void test('slow start: a discovered server joins below its full weight and ramps up to it', async (t) => {
  const signal = AbortSignal.timeout(180_000);
  setMaxListeners(100, signal); // one listener per request in flight
  const slow = await startSlowBackends({ names: ['k1', 'k2'], signal });
  t.after(() => slow.close());
  const spec: Partial<SpecParams> = { slowStart: '20s' };
  const node = await startNode(t, { signal, source: fileSource, servers: 0, spec });
  const file = join(node.dir, 'svc.json');
  await writeServers(file, members(slow, 'k1'));
  const pipeline = startPipeline(t, node, spec);
  await settled(pipeline, 1, signal);

  const weights = async (): Promise<{ k1: number; k2: number | undefined; opState: number | undefined }> => {
    const k2 = await slotOf(node, 'svc', slow.portOf('k2'), signal);
    const k1 = await slotOf(node, 'svc', slow.portOf('k1'), signal);
    const stat = await node.runtime.showStat({ signal });
    const w = (server: string | undefined): number | undefined => {
      const r = stat.find((x) => x['pxname'] === 'svc' && x['svname'] === server);
      return r === undefined ? undefined : Number(r['weight']);
    };
    return { k1: w(k1?.server) ?? -1, k2: k2?.admin === 'ready' ? w(k2.server) : undefined, opState: k2?.opState };
  };

  // k1 joined through the Runtime API too (the first apply had no membership yet): it ramps first.
  await waitFor('k1 at full weight', async () => ((await weights()).k1 === 100 ? true : undefined), { signal, timeoutMs: 120_000 });

  // WHEN k2 joins
  await writeServers(file, members(slow, 'k1', 'k2'));
  const first = await waitFor('k2 ready', async () => {
    const w = await weights();
    return w.k2 === undefined ? undefined : w;
  }, { signal });
  // THEN it starts below its full weight (HAProxy reports it STARTING) while k1 has its full weight
  const start = first.k2;
  assert.ok(start !== undefined && start < 100, `k2 joined at weight ${String(start)}`);
  assert.equal(first.opState, 1, 'srv_op_state 1: starting (slow start)');
  assert.equal(first.k1, 100);
  // THEN its weight grows to the full weight
  const seen = new Set<number>([start]);
  await waitFor('k2 at full weight', async () => {
    const w = await weights();
    if (w.k2 !== undefined) seen.add(w.k2);
    return w.k2 === 100 && w.opState === 2 ? true : undefined;
  }, { signal, timeoutMs: 120_000 });
  assert.ok([...seen].some((w) => w > start && w < 100), `weights seen while ramping: ${[...seen].sort((a, b) => a - b).join(', ')}`);
  await pipeline.stop(signal);
});
