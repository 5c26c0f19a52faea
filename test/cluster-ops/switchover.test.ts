/**
 * Planned switchover in the lab (real haproxy, keepalived, agents): one to lb-b that fails (lb-b
 * cannot reach the EC2 API), then lb-a -> lb-b -> lb-a, while a client sends new-connection
 * requests every 10 ms and a keep-alive client sends back-to-back requests through the VIP. Zero
 * failed requests, the failed one changes nothing, routes and VRRP on the target, handoff rules gone.
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../../src/cli/main.js';
import { memoryIo } from '../../src/cli/io.js';
import { startVipClient } from '../helpers/vip-client.js';
import { agentStatus, isRoot, recordRouteChanges, startE2eLab, waitFor, waitRoutesOn } from '../e2e/fixture.js';
import type { E2eLab } from '../e2e/fixture.js';

async function netState(e2e: E2eLab, node: string): Promise<string> {
  const mangle = await e2e.lab.exec(node, ['iptables', '-w', '5', '-t', 'mangle', '-S'], { signal: AbortSignal.timeout(10_000) });
  const rules = await e2e.lab.exec(node, ['ip', 'rule', 'show'], { signal: AbortSignal.timeout(10_000) });
  const links = await e2e.lab.exec(node, ['ip', '-o', 'link', 'show'], { signal: AbortSignal.timeout(10_000) });
  return `${mangle.stdout}\n${rules.stdout}\n${links.stdout.split('\n').map((l) => l.split(':')[1]?.trim() ?? '').join(' ')}`;
}

void test('planned switchover: a failed one changes nothing, lb-a -> lb-b -> lb-a fails no request', { skip: !isRoot && 'needs root (network namespaces)', timeout: 180_000 }, async (t) => {
  const e2e = await startE2eLab(t, { recheckInterval: '2s' });
  const { lab } = e2e;
  const prefix = lab.plan.prefix;
  const stateDir = dirname(lab.stateFile);
  const cliArgs = ['--spec', e2e.specFile, '--lab-prefix', prefix, '--lab-state-dir', stateDir];
  const before = { a: await netState(e2e, 'lb-a'), b: await netState(e2e, 'lb-b') };

  // GIVEN a client in az-a sending new-connection and keep-alive requests through the VIP
  const client = startVipClient(t, lab, 'client-az-a', { maxMs: 120_000 });
  await new Promise((r) => setTimeout(r, 1000));

  // WHEN switching over to lb-b while lb-b cannot reach the EC2 API (its claim cannot even list the tables)
  const { changes } = recordRouteChanges(t, lab);
  const unreachable = { kind: 'api-unreachable', az: 'az-b', mode: 'hang' } as const;
  await lab.faults.inject(unreachable);
  const failedIo = memoryIo();
  const failedCode = await runCli(['switchover', ...cliArgs, '--to', 'lb-b'], failedIo, AbortSignal.timeout(90_000));
  await lab.faults.clear(unreachable);
  // THEN it fails and says so; lb-a stays master, yields to nobody, and no route ever moved
  const failedOut = `${failedIo.stdout.join('\n')}\n${failedIo.stderr.join('\n')}`;
  assert.notEqual(failedCode, 0, `switchover with lb-b cut off from the API succeeded:\n${failedOut}`);
  assert.match(failedIo.stderr.join('\n'), /the target's claim failed: lb-b: DescribeRouteTables: no answer from the EC2 API.*; lb-a stays master.*\[SWITCHOVER_FAILED\]/, failedOut);
  const origin = await agentStatus(lab, 'lb-a');
  assert.equal(origin?.vrrp.vrrp, 'MASTER');
  assert.equal(origin?.vrrp.yieldingTo, null, 'lb-a still yields to lb-b after the failed switchover');
  assert.deepEqual(changes, [], 'a route moved in the failed switchover');
  assert.equal(await netState(e2e, 'lb-b'), before.b, 'the failed switchover left handoff rules on lb-b');

  // WHEN switching over to lb-b, then back to lb-a
  for (const to of ['lb-b', 'lb-a']) {
    const io = memoryIo();
    const code = await runCli(['switchover', ...cliArgs, '--to', to], io, AbortSignal.timeout(90_000));
    assert.equal(code, 0, `switchover --to ${to} failed:\n${io.stdout.join('\n')}\n${io.stderr.join('\n')}\n${await e2e.logs()}`);
    // THEN every table is on the target and the target is VRRP master
    await waitRoutesOn(e2e, to);
    const status = await waitFor(e2e, `${to} master`, async () => {
      const s = await agentStatus(lab, to);
      return s?.vrrp.vrrp === 'MASTER' ? s : null;
    });
    assert.equal(status.vrrp.vrrp, 'MASTER');
    await new Promise((r) => setTimeout(r, 1000));
  }
  const counts = await client.stop();

  t.diagnostic(`client: ${JSON.stringify(counts)}`);
  // THEN no request failed, on new and on keep-alive connections
  assert.ok(counts.fresh.ok > 50 && counts.keepAlive.ok > 50, `too few requests: ${JSON.stringify(counts)}`);
  assert.equal(counts.fresh.failed + counts.keepAlive.failed, 0, `failed requests: ${JSON.stringify(counts)}\n${await e2e.logs()}`);

  // THEN the handoff left nothing behind
  assert.equal(await netState(e2e, 'lb-a'), before.a);
  assert.equal(await netState(e2e, 'lb-b'), before.b);

  // AND status shows one master (lb-a), every table on it, same hashes everywhere
  const io = memoryIo();
  const code = await runCli(['status', ...cliArgs], io, AbortSignal.timeout(30_000));
  const out = io.stdout.join('\n');
  assert.equal(code, 0, `status reported problems:\n${out}\n${io.stderr.join('\n')}`);
  assert.match(out, /^lb-a\s+MASTER\s+yes\s+\d+/m);
  assert.match(out, /^lb-b\s+BACKUP\s+yes\s+0/m);
  assert.match(out, /^OK: one master/m);
  for (const id of lab.plan.routeTables.map((r) => r.id)) assert.match(out, new RegExp(`^${id}\\s+lb-a$`, 'm'));
});
