// Scenario 5 (issue 4): a partition between the LB nodes (VRRP cannot pass; clients still reach
// both). Both become master; lb-b (lower priority) claims every table, lb-a's recheck finds its
// peer holding them and retakes them, lb-b's recheck finds the higher-priority lb-a holding them
// and yields. The routes settle on lb-a and then stop changing. After the partition heals lb-b
// goes back to BACKUP and nothing moves.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentStatus, formatViews, isRoot, recordRouteChanges, routeViews, allOn, startE2eLab, waitFor, waitRoutesOn } from './fixture.js';

const RECHECK_MS = 2000;

void test('partition between the LB nodes: both master, the routes settle on lb-a and stop changing', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  const e2e = await startE2eLab(t, { recheckInterval: `${RECHECK_MS / 1000}s` });
  const { lab } = e2e;
  const { changes } = recordRouteChanges(t, lab);

  // WHEN the LB subnets cannot reach each other
  await lab.faults.inject({ kind: 'partition' });
  // THEN both are master, and lb-b claimed the tables (at least one change towards lb-b)
  await waitFor(e2e, 'lb-b master too', async () => (await agentStatus(lab, 'lb-b'))?.vrrp.vrrp === 'MASTER');
  await waitFor(e2e, 'lb-b claimed a route', () => Promise.resolve(changes.some((c) => c.node === 'lb-b')));
  assert.equal((await agentStatus(lab, 'lb-a'))?.vrrp.vrrp, 'MASTER');
  // AND the routes settle on lb-a (higher priority)
  await waitRoutesOn(e2e, 'lb-a');
  const settledAt = Date.now();
  const before = changes.length;
  // AND stay there, unchanged, for more than two recheck periods of both nodes.
  await sleep(RECHECK_MS * 2 + 1000);
  const moved = changes.slice(before);
  assert.deepEqual(moved, [], `routes changed after settling on lb-a (ping-pong): ${JSON.stringify(moved)}`);
  const views = await routeViews(lab);
  assert.ok(allOn(views, 'lb-a'), `routes left lb-a: ${formatViews(views)}`);
  const [a, b] = [await agentStatus(lab, 'lb-a'), await agentStatus(lab, 'lb-b')];
  assert.equal(a?.vrrp.vrrp, 'MASTER');
  assert.equal(b?.vrrp.vrrp, 'MASTER', 'lb-b left MASTER while partitioned');
  assert.ok((a?.vrrp.contests ?? 0) > 0, `lb-a reported no contest: ${JSON.stringify(a?.vrrp)}`);
  assert.ok((b?.vrrp.resources ?? []).some((r) => r.contested), `lb-b reports no contested table (it should be yielding): ${JSON.stringify(b?.vrrp.resources)}`);
  t.diagnostic(`partition: ${before} route changes until settled on lb-a (${settledAt - (changes[0]?.at ?? settledAt)} ms from the first), then none for ${RECHECK_MS * 2 + 1000} ms`);

  // WHEN the partition heals THEN lb-b goes back to BACKUP and the routes stay on lb-a.
  await lab.faults.clear({ kind: 'partition' });
  await waitFor(e2e, 'lb-b backup after the partition healed', async () => (await agentStatus(lab, 'lb-b'))?.vrrp.vrrp === 'BACKUP');
  await waitFor(e2e, 'lb-a master after the partition healed', async () => (await agentStatus(lab, 'lb-a'))?.vrrp.vrrp === 'MASTER');
  const healedMoves = changes.slice(before).filter((c) => c.node !== 'lb-a');
  assert.deepEqual(healedMoves, [], `routes moved away from lb-a after healing: ${JSON.stringify(healedMoves)}`);
  assert.ok(allOn(await routeViews(lab), 'lb-a'));
});

// Review finding: under a partition lb-b yields to lb-a, which it cannot reach. If lb-a then dies,
// lb-b never sees a VRRP transition (it is master already): without a cloud-visible heartbeat it
// would yield for ever and the VIP would stay black-holed. lb-a's heartbeat tag stops moving, so
// lb-b retakes the routes after three re-check periods.
void test('partition, then the master that kept the routes dies: the other master retakes them once its heartbeat stops', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  const e2e = await startE2eLab(t, { recheckInterval: `${RECHECK_MS / 1000}s` });
  const { lab } = e2e;
  // GIVEN a partition, both nodes master, the routes settled on lb-a
  await lab.faults.inject({ kind: 'partition' });
  await waitFor(e2e, 'lb-b master too', async () => (await agentStatus(lab, 'lb-b'))?.vrrp.vrrp === 'MASTER');
  await waitRoutesOn(e2e, 'lb-a');
  await waitFor(e2e, 'lb-b yielding', async () => (await agentStatus(lab, 'lb-b'))?.vrrp.resources.some((r) => r.contested) === true);
  // WHEN lb-a's node goes down while the partition lasts
  await lab.faults.inject({ kind: 'node-down', node: 'lb-a' });
  const downAt = Date.now();
  // THEN lb-b takes every route, after lb-a's heartbeat has stood still for three re-check periods
  const backAt = await waitRoutesOn(e2e, 'lb-b');
  t.diagnostic(`lb-a down -> every route on lb-b: ${backAt - downAt} ms (heartbeat stale after ${3 * RECHECK_MS} ms)`);
  const bLog = await readFile(join(e2e.runDir('lb-b'), 'agent.log'), 'utf8');
  assert.match(bLog, /"event":"holder-stale".*"holder":"lb-a"/);
  assert.equal((await agentStatus(lab, 'lb-b'))?.vrrp.vrrp, 'MASTER');
});
