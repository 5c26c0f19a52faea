import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AggregatorCore, type HeldChange, type Publication } from '../../src/discovery/aggregator.js';
import { runAggregator } from '../../src/discovery/aggregator-runner.js';
import { createFileSource } from '../../src/discovery/file-source.js';
import { writeFileAtomic } from '../../src/util/fs-atomic.js';

const list = (...ips: string[]): string => JSON.stringify(ips.map((address) => ({ address, port: 80 })));

void test('runner: file sources -> published membership with generations; the removal guard holds a mass removal', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-disc-agg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFileAtomic(join(dir, 'a.json'), list('10.5.0.1', '10.5.0.2', '10.5.0.3'));
  await writeFileAtomic(join(dir, 'b.json'), list('10.6.0.1'));
  const core = new AggregatorCore({ backends: [{ name: 'web', source: 'a' }, { name: 'api', source: 'b' }], minWaitMs: 50, maxWaitMs: 300 });
  const published: Publication[] = [];
  const held: HeldChange[] = [];
  const ctl = new AbortController();
  const done = runAggregator({
    core, signal: ctl.signal, onPublish: (p) => published.push(p), onHeld: (h) => held.push(...h),
    sources: ['a', 'b'].map((name) => createFileSource({ name, path: join(dir, `${name}.json`), pollMs: 200 })),
  });
  t.after(async () => {
    ctl.abort();
    await done;
  });
  const waitFor = async (what: string, predicate: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !predicate(); i++) await sleep(20);
    assert.ok(predicate(), `timed out waiting for ${what}: ${JSON.stringify({ published, held })}`);
  };
  await waitFor('both backends', () => published.at(-1)?.membership.size === 2);
  const g = published.at(-1)!.generation;
  assert.deepEqual(published.at(-1)!.membership.get('web')?.map((s) => s.address), ['10.5.0.1', '10.5.0.2', '10.5.0.3']);

  // WHEN source a drops to one of three servers THEN that change is held and reported; web keeps three.
  await writeFileAtomic(join(dir, 'a.json'), list('10.5.0.1'));
  await waitFor('held', () => held.length > 0);
  assert.equal(held[0]?.backend, 'web');
  assert.equal(held[0]?.removing, 2);
  assert.equal(core.membership().get('web')?.length, 3);

  // WHEN source b adds a server THEN it is published with the next generation.
  await writeFileAtomic(join(dir, 'b.json'), list('10.6.0.1', '10.6.0.2'));
  await waitFor('api change', () => published.at(-1)?.membership.get('api')?.length === 2);
  assert.equal(published.at(-1)!.generation, g + 1);
  assert.deepEqual(published.at(-1)!.changed, ['api']);
});
