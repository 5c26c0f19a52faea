/**
 * The packaged systemd unit of the agent: hardened to an exposure of at most 4.0 by systemd's own
 * measure (`systemd-analyze security --offline=true`, which needs no running systemd), its
 * capability bounding set the one the code documents and the lab applies (src/ops/agent-unit.ts),
 * readiness and reload wired, and valid for `systemd-analyze verify` (but for the executable,
 * which is installed by the package, not on this machine).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../src/util/exec.js';
import { AGENT_UNIT_CAPABILITIES } from '../../src/ops/agent-unit.js';
import { REPO_ROOT } from '../helpers/package.js';

const UNIT = join(REPO_ROOT, 'packaging/deb/overlay-lb-agent.service');

function settings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m === null) continue;
    out.set(m[1] ?? '', [...(out.get(m[1] ?? '') ?? []), m[2] ?? '']);
  }
  return out;
}

void test('systemd-analyze security rates the agent unit 4.0 or better', async () => {
  const r = await runCommand(['systemd-analyze', 'security', '--offline=true', '--no-pager', UNIT], { timeoutMs: 60_000 });
  const m = /Overall exposure level for overlay-lb-agent\.service: (\d+\.\d+)/.exec(r.stdout + r.stderr);
  assert.ok(m !== null, `no exposure level in systemd-analyze's output:\n${r.stdout}\n${r.stderr}`);
  const level = Number(m[1]);
  assert.ok(level <= 4.0, `exposure ${level} > 4.0:\n${r.stdout}`);
});

void test('the unit: capability set as documented, hardening, Type=notify, reload re-reads the spec', async () => {
  const s = settings(await readFile(UNIT, 'utf8'));
  assert.deepEqual(s.get('CapabilityBoundingSet')?.[0]?.split(/\s+/).sort(), [...AGENT_UNIT_CAPABILITIES].sort());
  for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['Type', 'notify'], ['NotifyAccess', 'all'], ['KillMode', 'process'], ['ExecReload', '/bin/kill -HUP $MAINPID']] as const) {
    assert.equal(s.get(key)?.at(-1), value, `${key}=${value}`);
  }
  assert.deepEqual(s.get('ReadWritePaths'), ['/run/overlay-lb']);
  // admin.accessLog: journald's socket inside HAProxy's chroot (syslog), the log directory (file).
  assert.deepEqual(s.get('BindReadOnlyPaths'), ['-/run/systemd/journal/dev-log:/var/lib/haproxy/dev/log']);
  assert.deepEqual(s.get('LogsDirectory'), ['overlay-lb']);
  const families = s.get('RestrictAddressFamilies')?.[0]?.split(/\s+/) ?? [];
  for (const f of ['AF_UNIX', 'AF_INET', 'AF_NETLINK']) assert.ok(families.includes(f), `RestrictAddressFamilies lacks ${f}`);
  assert.match(s.get('SystemCallFilter')?.[0] ?? '', /^@system-service\b/);
  assert.match(s.get('ExecStart')?.[0] ?? '', /^\/usr\/bin\/overlay-lb agent /);
});

void test('systemd-analyze verify finds nothing wrong in the unit but the executable it does not have here', async () => {
  const r = await runCommand(['systemd-analyze', 'verify', '--man=no', UNIT], { timeoutMs: 60_000 });
  const problems = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() !== '' && !l.includes('/usr/bin/overlay-lb is not executable'));
  assert.deepEqual(problems, []);
});
