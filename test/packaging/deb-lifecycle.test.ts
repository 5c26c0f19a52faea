/**
 * The Debian package's whole life in a throwaway Debian 12 root: install -> upgrade (a second
 * build with a higher version) -> remove -> purge, with the real dpkg and apt of that root.
 *
 * The root is a debootstrap'd bookworm minbase with haproxy, keepalived, iproute2 and iptables
 * from Debian's mirror (scripts/debian-root.sh, cached: minutes the first time only), under a
 * throwaway overlayfs, so the cache never changes. Every command in it runs chrooted in fresh
 * mount, network and PID namespaces (nothing it does reaches this machine's network or
 * processes). There is no systemd there, as on this machine: the maintainer scripts must cope.
 *
 * After the purge, the overlay's upper layer (everything the test changed in the root) may hold
 * only dpkg's and apt's own bookkeeping: any other file is something the package left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, lstat, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runCommand } from '../../src/util/exec.js';
import { buildPackage, REPO_ROOT } from '../helpers/package.js';

const ROOT_CACHE = process.env.OVERLAY_LB_DEB_CACHE ?? '/var/cache/overlay-lb';
const V1 = '0.1.0~olbtest1';
const V2 = '0.1.0~olbtest2';

async function must(argv: readonly string[], options: { signal: AbortSignal; timeoutMs?: number }): Promise<string> {
  const r = await runCommand(argv, { signal: options.signal, timeoutMs: options.timeoutMs ?? 120_000 });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Runs a shell script chrooted in `root`, in new mount, network and PID namespaces. */
async function inRoot(root: string, script: string, signal: AbortSignal): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // apt wants a pty (devpts); the chroot gets its own instance, gone with the mount namespace.
  const enter = 'mount -t devpts -o newinstance,ptmxmode=0666 devpts "$1/dev/pts" && exec chroot "$1" /bin/bash -c "$2"';
  return runCommand(
    ['unshare', '--mount', '--net', '--pid', '--fork', `--mount-proc=${join(root, 'proc')}`, '/bin/bash', '-c', enter, 'enter', root, `set -euo pipefail\n${script}`],
    { signal, timeoutMs: 300_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LANG: 'C' } },
  );
}

async function inRootOk(root: string, script: string, signal: AbortSignal): Promise<string> {
  const r = await inRoot(root, script, signal);
  assert.equal(r.code, 0, `in the root:\n${script}\n--- exit ${r.code}; stderr:\n${r.stderr}\n--- stdout:\n${r.stdout}`);
  return r.stdout;
}

/** Every path in the overlay's upper layer (what the test changed in the root), relative. */
async function changedPaths(upper: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      out.push(relative(upper, path));
      if (e.isDirectory()) await walk(path);
    }
  };
  await walk(upper);
  return out.sort();
}

/** dpkg's and apt's own records, logs and caches, the test's own files, and directories that existed before. */
const BOOKKEEPING = [/^var\/lib\/dpkg\//, /^var\/log\//, /^var\/cache\/(apt|debconf|ldconfig)\//, /^var\/lib\/apt\//, /^tmp\//, /^etc\/ld\.so\.cache$/];

void test('the .deb installs, upgrades, removes and purges cleanly in a Debian 12 root without systemd', { timeout: 20 * 60_000 }, async () => {
  const signal = AbortSignal.timeout(20 * 60_000);
  assert.equal(process.getuid?.(), 0, 'this test needs root (debootstrap, mount, chroot)');
  const lower = (await must(['bash', join(REPO_ROOT, 'scripts/debian-root.sh'), ROOT_CACHE], { signal, timeoutMs: 15 * 60_000 })).trim().split('\n').pop() ?? '';
  const work = await mkdtemp(join(tmpdir(), 'olb-deb-life-'));
  const [debV1, debV2] = [
    await buildPackage({ outDir: join(work, 'out1'), version: V1, signal }),
    await buildPackage({ outDir: join(work, 'out2'), version: V2, signal }),
  ];
  const upper = join(work, 'upper');
  const root = join(work, 'root');
  await Promise.all([mkdir(upper), mkdir(join(work, 'ovl-work')), mkdir(root)]);
  await must(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${join(work, 'ovl-work')}`, root], { signal });
  try {
    await copyFile(debV1, join(root, 'tmp/overlay-lb_v1.deb'));
    await copyFile(debV2, join(root, 'tmp/overlay-lb_v2.deb'));

    // No Node.js in the root: the executable carries its runtime.
    await inRootOk(root, '! command -v node && ! command -v nodejs && [ ! -d /run/systemd/system ]', signal);

    // Install, as docs/install.md says.
    await inRootOk(root, 'apt-get install -y -q /tmp/overlay-lb_v1.deb', signal);
    const v1 = await inRootOk(root, 'overlay-lb --version', signal);
    assert.match(v1, new RegExp(`^overlay-lb ${V1.replace(/[.~]/g, '\\$&')} \\(commit [0-9a-f]{12}(-dirty)?, Node\\.js v24\\.22\\.3\\)\\n$`));
    await inRootOk(root, [
      'test -x /usr/bin/overlay-lb',
      'test -f /lib/systemd/system/overlay-lb-agent.service',
      'test -f /usr/share/man/man1/overlay-lb.1.gz',
      'test -f /usr/share/bash-completion/completions/overlay-lb',
      'test -f /usr/share/overlay-lb/prometheus/overlay-lb.rules.yml && test -f /usr/share/overlay-lb/grafana/overlay-lb.json',
      'test -f /usr/share/doc/overlay-lb/copyright && test -f /usr/share/doc/overlay-lb/LICENSE',
      // The notices list what was bundled, with license texts.
      'zcat /usr/share/doc/overlay-lb/THIRD-PARTY-NOTICES.gz > /tmp/notices',
      'for p in "Node.js" "@aws-sdk/client-ec2" "zod" "yaml" "@smithy/" "Apache License" "MIT"; do grep -qF "$p" /tmp/notices || { echo "notices lack $p"; exit 1; }; done',
      '[ "$(stat -c %a /etc/overlay-lb)" = 750 ]',
      // Conffiles, as dpkg records them.
      'dpkg-query -W -f=\'${Conffiles}\\n\' overlay-lb | grep -q "/etc/overlay-lb/agent.env"',
      'dpkg-query -W -f=\'${Conffiles}\\n\' overlay-lb | grep -q "/etc/overlay-lb/spec.yaml.example"',
      // The example spec is valid, and the executable's commands work in the root.
      'overlay-lb validate /etc/overlay-lb/spec.yaml.example',
      'overlay-lb render /etc/overlay-lb/spec.yaml.example --node lb-a --out /tmp/rendered --require-tools',
      'grep -q "^  chroot /var/lib/haproxy$" /tmp/rendered/haproxy.cfg',
      'overlay-lb explain /etc/overlay-lb/spec.yaml.example --path /api/x | grep -q api',
      // Enabled the way dh_installsystemd does it (no systemd needed for that).
      'test -L /etc/systemd/system/multi-user.target.wants/overlay-lb-agent.service',
    ].join('\n'), signal);

    // The operator configures the node: edits a conffile and adds the spec.
    await inRootOk(root, 'echo OVERLAY_LB_NODE=lb-a >> /etc/overlay-lb/agent.env && cp /etc/overlay-lb/spec.yaml.example /etc/overlay-lb/spec.yaml', signal);

    // Upgrade: the edited conffile is kept, the new executable is in place.
    await inRootOk(root, 'apt-get install -y -q -o Dpkg::Options::=--force-confold /tmp/overlay-lb_v2.deb', signal);
    assert.match(await inRootOk(root, 'overlay-lb --version', signal), new RegExp(`^overlay-lb ${V2.replace(/[.~]/g, '\\$&')} `));
    await inRootOk(root, 'grep -qx OVERLAY_LB_NODE=lb-a /etc/overlay-lb/agent.env && test -f /etc/overlay-lb/spec.yaml', signal);

    // Remove, on a node that ran the agent: haproxy from its pid file and the handoff chain go
    // (here in the throwaway namespaces), the configuration stays.
    await inRootOk(root, [
      'mkdir -p /run/overlay-lb',
      'printf "global\\n  pidfile /run/overlay-lb/haproxy.pid\\ndefaults\\n  mode http\\n  timeout client 5s\\n  timeout server 5s\\n  timeout connect 5s\\nfrontend f\\n  bind 127.0.0.1:18080\\n" > /tmp/h.cfg',
      'ip link set lo up',
      'haproxy -D -f /tmp/h.cfg',
      'for i in $(seq 50); do [ -s /run/overlay-lb/haproxy.pid ] && break; sleep 0.1; done',
      'pid=$(cat /run/overlay-lb/haproxy.pid); [ "$(cat /proc/$pid/comm)" = haproxy ]',
      'iptables -N OLB-HANDOFF-IN && iptables -A INPUT -p udp --dport 4789 -m comment --comment olb-handoff -j OLB-HANDOFF-IN',
      'apt-get remove -y -q overlay-lb',
      '! test -e /usr/bin/overlay-lb',
      'state=$(awk \'{print $3}\' /proc/$pid/stat 2>/dev/null || echo gone); [ "$state" = gone ] || [ "$state" = Z ] || { echo "haproxy $pid still runs ($state)"; exit 1; }',
      '! iptables -n -L OLB-HANDOFF-IN >/dev/null 2>&1',
      'grep -qx OVERLAY_LB_NODE=lb-a /etc/overlay-lb/agent.env && test -f /etc/overlay-lb/spec.yaml.example && test -f /etc/overlay-lb/spec.yaml',
      '[ "$(dpkg-query -W -f=\'${db:Status-Abbrev}\' overlay-lb)" = "rc " ]',
    ].join('\n'), signal);

    // Purge: nothing of the package is left.
    await inRootOk(root, [
      'apt-get purge -y -q overlay-lb',
      '! test -e /etc/overlay-lb',
      '! dpkg-query -W overlay-lb 2>/dev/null | grep -q .',
      '! test -e /etc/systemd/system/multi-user.target.wants/overlay-lb-agent.service',
      '! ls /var/lib/systemd/deb-systemd-helper-enabled 2>/dev/null | grep -q overlay-lb',
      '! find /var/lib/systemd -name "*overlay-lb*" 2>/dev/null | grep -q .',
    ].join('\n'), signal);
    const left = (await changedPaths(upper)).filter((p) => !BOOKKEEPING.some((re) => re.test(p)));
    // A directory that exists in the Debian root itself was only copied up (its contents changed).
    const unexpected: string[] = [];
    for (const p of left) {
      const [inLower, inUpper] = await Promise.all([stat(join(lower, p)).catch(() => null), lstat(join(upper, p))]);
      if (inLower?.isDirectory() === true && inUpper.isDirectory()) continue;
      unexpected.push(p);
    }
    assert.deepEqual(unexpected, [], `left in the root after purge: ${unexpected.join(', ')}`);
  } finally {
    await runCommand(['umount', root], { timeoutMs: 60_000 });
    await rm(work, { recursive: true, force: true });
  }
});
