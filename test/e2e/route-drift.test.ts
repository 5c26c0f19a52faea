// Scenario 12 (issue 4): someone points the VIP route elsewhere by hand, with the aws CLI from the
// host exactly as an operator would type it. The master's recheck restores it: a target outside
// the cluster is drift (retaken), a peer with a lower priority is a contest the master wins.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LabHandle } from '../../src/lab/lab.js';
import { agentCounter, agentStatus, allOn, formatViews, isRoot, recordRouteChanges, routeViews, startE2eLab, waitFor, type RouteChange } from './fixture.js';

const AWS = '/usr/bin/aws';
const RECHECK_MS = 2000;

/** `aws ec2 replace-route` against the lab's API with the admin credentials and a clean config. */
async function awsReplaceRoute(lab: LabHandle, home: string, table: string, eni: string): Promise<void> {
  await writeFile(join(home, 'config'), '');
  await writeFile(join(home, 'credentials'), '');
  const args = ['ec2', 'replace-route', '--route-table-id', table, '--destination-cidr-block', `${lab.plan.vip}/32`, '--network-interface-id', eni, '--endpoint-url', lab.apiUrl];
  const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(AWS, args, {
      timeout: 60_000,
      env: {
        PATH: '/usr/bin:/bin', HOME: home, AWS_CONFIG_FILE: join(home, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
        AWS_ACCESS_KEY_ID: lab.adminCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: lab.adminCredentials.secretAccessKey,
        AWS_DEFAULT_REGION: lab.adminCredentials.region, AWS_EC2_METADATA_DISABLED: 'true', AWS_MAX_ATTEMPTS: '1', AWS_PAGER: '',
      },
    }, (error, _stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stderr }));
  });
  assert.equal(result.code, 0, `aws ec2 replace-route failed: ${result.stderr}`);
}

void test('a route pointed elsewhere by hand is restored by the master', { skip: (!isRoot && 'needs root (network namespaces)') || (!existsSync(AWS) && `needs the aws CLI at ${AWS}`), timeout: 120_000 }, async (t) => {
  const e2e = await startE2eLab(t, { recheckInterval: `${RECHECK_MS / 1000}s` });
  const { lab } = e2e;
  const home = await mkdtemp(join(tmpdir(), 'olbt-aws-'));
  t.after(() => rm(home, { recursive: true, force: true }));
  const { changes } = recordRouteChanges(t, lab);
  const eniOf = (name: string): string => {
    const i = lab.plan.instances.find((x) => x.name === name);
    assert.ok(i, `no instance ${name}`);
    return i.eni.id;
  };
  const stranger = lab.plan.instances.find((i) => i.role === 'backend');
  assert.ok(stranger);
  const [first, second] = lab.plan.routeTables.map((r) => r.id);
  assert.ok(first !== undefined && second !== undefined);

  const cases: { table: string; target: string; what: string }[] = [
    { table: first, target: stranger.name, what: 'an instance outside the cluster (drift)' },
    { table: second, target: 'lb-b', what: 'the lower-priority peer (contest)' },
  ];
  for (const c of cases) {
    const from = changes.length;
    // WHEN an operator points one table's VIP route at another ENI
    await awsReplaceRoute(lab, home, c.table, eniOf(c.target));
    const changedAt = Date.now();
    // THEN lb-a points it back, and writes no other table
    await waitFor(e2e, `${c.table} restored to lb-a after pointing it at ${c.what}`, () =>
      Promise.resolve(lab.controller.cloud.view().routeTables[c.table]?.routes.some((r) => r.destinationCidrBlock === `${lab.plan.vip}/32` && r.target.kind === 'eni' && r.target.networkInterfaceId === eniOf('lb-a'))),
    { intervalMs: 50 });
    t.diagnostic(`pointed at ${c.what} -> restored: ${Date.now() - changedAt} ms (recheck interval ${RECHECK_MS} ms)`);
    const seen = changes.slice(from).map((x: RouteChange) => [x.table, x.node ?? x.eni]);
    assert.deepEqual(seen, [[c.table, c.target === 'lb-b' ? 'lb-b' : eniOf(c.target)], [c.table, 'lb-a']]);
  }
  const views = await routeViews(lab);
  assert.ok(allOn(views, 'lb-a'), formatViews(views));
  assert.ok(await agentCounter(lab, 'lb-a', 'overlay_lb_drift_total') >= 1, 'lb-a counted no drift');
  assert.ok(await agentCounter(lab, 'lb-a', 'overlay_lb_contests_total') >= 1, 'lb-a counted no contest');
});

// Review finding: a master yielded for ever to a higher-priority peer that held a route without
// being master (a claim EC2 had accepted before the peer lost mastership). The master now asks the
// holder over the handoff link: it answers that it is not master, so the route is retaken.
void test('a route held by a higher-priority node that is not master is retaken by the master', { skip: (!isRoot && 'needs root (network namespaces)') || (!existsSync(AWS) && `needs the aws CLI at ${AWS}`), timeout: 150_000 }, async (t) => {
  // A long preempt delay: lb-a, healthy again, stays backup for the whole test.
  const e2e = await startE2eLab(t, { recheckInterval: `${RECHECK_MS / 1000}s`, preemptDelay: '120s' });
  const { lab } = e2e;
  const home = await mkdtemp(join(tmpdir(), 'olbt-aws-'));
  t.after(() => rm(home, { recursive: true, force: true }));
  const eniOf = (name: string): string => lab.plan.instances.find((x) => x.name === name)!.eni.id;
  // GIVEN lb-b master (lb-a's haproxy was killed; restarted by its agent, lb-a is backup again)
  await lab.faults.kill('lb-a', 'haproxy', { signal: AbortSignal.timeout(10_000) });
  await waitFor(e2e, 'lb-b master holding every table, lb-a backup and healthy', async () => {
    const [a, b] = [await agentStatus(lab, 'lb-a'), await agentStatus(lab, 'lb-b')];
    return b?.vrrp.vrrp === 'MASTER' && b.vrrp.resources.length > 0 && b.vrrp.resources.every((r) => r.holder?.kind === 'us') && a?.vrrp.vrrp === 'BACKUP' && a.haproxy.healthy;
  }, { timeoutMs: 60_000 });
  const { changes } = recordRouteChanges(t, lab);
  const table = lab.plan.routeTables[0]!.id;
  // WHEN one table is pointed at lb-a, which is not master
  await awsReplaceRoute(lab, home, table, eniOf('lb-a'));
  // THEN lb-b takes it back (lb-a says it is BACKUP), and nothing else moves
  await waitFor(e2e, `${table} back on lb-b`, () =>
    Promise.resolve(lab.controller.cloud.view().routeTables[table]?.routes.some((r) => r.destinationCidrBlock === `${lab.plan.vip}/32` && r.target.kind === 'eni' && r.target.networkInterfaceId === eniOf('lb-b'))),
  { intervalMs: 50 });
  assert.deepEqual(changes.map((c) => [c.table, c.node]), [[table, 'lb-a'], [table, 'lb-b']]);
  const bLog = await readFile(join(e2e.runDir('lb-b'), 'agent.log'), 'utf8');
  assert.match(bLog, /"event":"holder-not-master".*"holder":"lb-a","holderVrrp":"BACKUP"/);
  // AND it stays there: lb-b does not yield, lb-a does not claim
  await new Promise((r) => setTimeout(r, 3 * RECHECK_MS));
  assert.equal(changes.length, 2, JSON.stringify(changes));
});
