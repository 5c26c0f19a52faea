// What ships is what is tested: the LB nodes run the packaged single executable (usr/bin/overlay-lb
// of the .deb, built by scripts/build-deb.sh and extracted with dpkg-deb -x; or OVERLAY_LB_DEB),
// not dist/, under the restrictions of the packaged unit that can be applied without systemd:
// its CapabilityBoundingSet and NoNewPrivileges (setpriv). haproxy and keepalived, started by
// the agent, inherit them; haproxy's workers run as `haproxy`, chrooted into /var/lib/haproxy.
// The access log (admin.accessLog: file in the demo spec) reaches its file through the agent.
// Then scenario 1 of issue 4: haproxy crashes on the master, lb-b takes every route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readlink, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isRoot, runUnplannedFailover, type E2eLab } from './fixture.js';
import { packagedExecutable } from '../helpers/package.js';
import { AGENT_UNIT_CAPABILITIES } from '../../src/ops/agent-unit.js';
import { HAPROXY_WORKER_USER } from '../../src/render/haproxy.js';

/** Linux capability numbers (include/uapi/linux/capability.h) of the unit's set. */
const CAP_NUMBERS: Readonly<Record<(typeof AGENT_UNIT_CAPABILITIES)[number], number>> = {
  CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_NET_BIND_SERVICE: 10, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18,
};
const UNIT_BOUNDING_SET = AGENT_UNIT_CAPABILITIES.reduce((mask, c) => mask | (1n << BigInt(CAP_NUMBERS[c])), 0n);

async function procStatus(pid: number): Promise<Map<string, string>> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  return new Map(text.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string]));
}

async function pidFile(path: string): Promise<number> {
  return Number((await readFile(path, 'utf8')).trim().split('\n')[0]);
}

/** Asserts the process runs under the unit's bounding set and no_new_privs. */
async function assertRestricted(pid: number, what: string): Promise<void> {
  const status = await procStatus(pid);
  assert.equal(BigInt(`0x${status.get('CapBnd') ?? ''}`), UNIT_BOUNDING_SET, `${what} (pid ${pid}): CapBnd ${status.get('CapBnd')} is not the unit's set ${UNIT_BOUNDING_SET.toString(16)}`);
  assert.equal(status.get('NoNewPrivs'), '1', `${what} (pid ${pid}) may gain privileges (NoNewPrivs ${status.get('NoNewPrivs')})`);
}

async function checkNode(e2e: E2eLab, node: string, executable: string): Promise<void> {
  const state = JSON.parse(await readFile(e2e.lab.stateFile, 'utf8')) as { resources: { kind: string; label?: string; pid?: number | null }[] };
  const agent = state.resources.find((r) => r.kind === 'process' && r.label === `agent ${node}`);
  assert.ok(typeof agent?.pid === 'number', `no agent process recorded for ${node}`);
  // The agent is the packaged executable itself (setpriv exec'd it), not node + dist/.
  assert.equal(await readlink(`/proc/${agent.pid}/exe`), executable, `${node}'s agent is not the packaged executable`);
  await assertRestricted(agent.pid, `${node} agent`);
  const runDir = e2e.runDir(node);
  const keepalived = await pidFile(join(runDir, 'keepalived.pid'));
  const master = await pidFile(join(runDir, 'haproxy.pid'));
  await assertRestricted(keepalived, `${node} keepalived`);
  await assertRestricted(master, `${node} haproxy master`);
  // haproxy's workers: children of the master, as the haproxy user, chrooted.
  const workers: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === master) workers.push(Number(entry));
  }
  assert.ok(workers.length > 0, `${node}: haproxy master ${master} has no worker`);
  const haproxyUid = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${HAPROXY_WORKER_USER.user}:`))?.split(':')[2];
  for (const w of workers) {
    const status = await procStatus(w);
    assert.equal(status.get('Uid')?.split(/\s+/)[1], haproxyUid, `${node}: haproxy worker ${w} does not run as ${HAPROXY_WORKER_USER.user}`);
    assert.equal(await readlink(`/proc/${w}/root`), HAPROXY_WORKER_USER.chroot, `${node}: haproxy worker ${w} is not chrooted`);
    assert.equal(BigInt(`0x${status.get('CapEff') ?? ''}`), 0n, `${node}: haproxy worker ${w} kept capabilities`);
  }
}

void test('the packaged executable, restricted like the unit, fails over when haproxy dies on the master', { skip: !isRoot && 'needs root (network namespaces)', timeout: 600_000 }, async (t) => {
  const pkg = await packagedExecutable({ signal: AbortSignal.timeout(300_000) });
  t.after(() => rm(pkg.dir, { recursive: true, force: true }));
  const agentCommand = { executable: pkg.executable, restricted: true };
  let checked = false;
  await runUnplannedFailover(t, {
    clientAz: 'az-a',
    edits: { agentCommand },
    fault: async (e2e) => {
      await checkNode(e2e, 'lb-a', pkg.executable);
      await checkNode(e2e, 'lb-b', pkg.executable);
      // admin.accessLog: file (examples/demo.yaml): the probe's requests on the master are lines
      // of the access log the packaged agent drains and rotates; keepalived's log is beside it.
      const runDir = e2e.runDir('lb-a');
      const deadline = Date.now() + 30_000;
      let accessLog = '';
      while (!/ HTTP\/1\.1"/.test(accessLog) && Date.now() < deadline) {
        accessLog = await readFile(join(runDir, 'haproxy-access.log'), 'utf8').catch(() => '');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.match(accessLog, / HTTP\/1\.1"/, 'the probe\'s requests are in lb-a\'s access log');
      assert.match(await readFile(join(runDir, 'keepalived.log'), 'utf8'), /Entering MASTER STATE/);
      checked = true;
      await e2e.lab.faults.kill('lb-a', 'haproxy', { signal: AbortSignal.timeout(10_000) });
    },
  });
  assert.ok(checked);
});
