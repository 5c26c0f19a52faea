/**
 * `overlay-lb render` and the agent's applies share one "stage, check, install" routine
 * (stageCheckInstall, src/haproxy/config-writer.ts): the check sees the staged files (the config
 * pointing at the staged maps), a failed check changes nothing, an install leaves no staging
 * directory and no map the config no longer lists. Runs the real `haproxy -c` (no process stays).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderNodeFiles } from '../../src/ops/render.js';
import { stageCheckInstall } from '../../src/haproxy/config-writer.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { GOLDEN_CASES } from '../render/haproxy-cases.js';

const maps = GOLDEN_CASES.find((c) => c.name === 'maps');
const HASH = 'a'.repeat(64);

void test('render: the checked files are installed as rendered, a stale map is removed, no staging directory stays', async (t) => {
  assert.ok(maps !== undefined);
  const dir = await mkdtemp(join(tmpdir(), 'olb-typed-render-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'out');
  await mkdir(join(out, 'maps'), { recursive: true });
  await writeFile(join(out, 'maps', 'old.run-9.map'), 'x y\n');
  const r = await renderNodeFiles(maps.spec, HASH, { node: maps.node, outDir: out, validate: 'auto', signal: AbortSignal.timeout(60_000) });
  assert.equal(r.checks.haproxy.status, 'passed', JSON.stringify(r.checks.haproxy));
  const expected = renderHaproxy(maps.spec, { node: maps.node, specHash: HASH, mapDir: join(out, 'maps') });
  assert.equal(await readFile(join(out, 'haproxy.cfg'), 'utf8'), expected.config);
  assert.deepEqual((await readdir(join(out, 'maps'))).sort(), expected.maps.map((m) => m.name).sort());
  for (const m of expected.maps) assert.equal(await readFile(join(out, 'maps', m.name), 'utf8'), m.content);
  assert.deepEqual(r.files.slice(-2), [join(out, 'haproxy.cfg'), join(out, 'keepalived.conf')], 'config files last');
  assert.deepEqual((await readdir(out)).filter((n) => n.startsWith('.staging')), []);
});

void test('stage, check, install: the check reads the staged copy; a failed check changes nothing', async (t) => {
  assert.ok(maps !== undefined);
  const dir = await mkdtemp(join(tmpdir(), 'olb-typed-stage-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const rendered = renderHaproxy(maps.spec, { node: maps.node, specHash: 'h', mapDir: join(dir, 'maps') });
  await mkdir(join(dir, 'maps'));
  await writeFile(join(dir, 'haproxy.cfg'), 'before\n');
  const signal = AbortSignal.timeout(60_000);
  await assert.rejects(
    stageCheckInstall({ dir, ...rendered }, {
      signal,
      extra: [{ name: 'keepalived.conf', content: 'k\n' }],
      check: async (staged) => {
        const text = await readFile(staged.config, 'utf8');
        assert.ok(text.includes(`${staged.mapDir}/`) && !text.includes(`${join(dir, 'maps')}/`), 'the staged config refers to the staged maps');
        for (const m of rendered.maps) assert.equal(await readFile(join(staged.mapDir, m.name), 'utf8'), m.content);
        assert.equal(await readFile(join(staged.dir, 'keepalived.conf'), 'utf8'), 'k\n');
        throw new Error('refused');
      },
    }),
    /refused/,
  );
  assert.equal(await readFile(join(dir, 'haproxy.cfg'), 'utf8'), 'before\n');
  assert.deepEqual((await readdir(dir)).sort(), ['haproxy.cfg', 'maps']);
  assert.deepEqual(await readdir(join(dir, 'maps')), []);
});
