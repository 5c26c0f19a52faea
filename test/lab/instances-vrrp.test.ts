// Issue 18's "two masters" case with nodes nobody built by hand, in a real lab (`lab up --bare`,
// root, under the shared lock): two instances launched through the API in two subnets (two AZs),
// whose user-data writes a minimal keepalived.conf (unicast peers, the VIP on `lo`) and starts the
// host's /usr/sbin/keepalived in the instance's namespace. Their security group has no rule for
// protocol 112, so each one's adverts are dropped at the other's ENI: both become MASTER (both
// hold the VIP). Authorizing protocol 112 from the group itself leaves one MASTER (the higher
// priority). `lab down` leaves nothing, keepalived included.
import assert from 'node:assert/strict';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand, type Instance,
} from '@aws-sdk/client-ec2';
import { startLab, stopLab } from '../../src/lab/lab.js';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { formatIpv4, parseCidr } from '../../src/lab/plan.js';
import { leftovers } from '../helpers/lab-leftovers.js';

const SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
const skip = process.getuid?.() === 0 ? false : 'needs root';

/** Polls `read` until `done` holds (generous deadline: the machine is shared). */
async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await sleep(250);
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** Processes whose command line mentions `marker`. */
async function processesMentioning(marker: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker)) out.push(`${pid} ${cmdline.replaceAll('\0', ' ')}`);
  }
  return out;
}

/** The user-data of one node: keepalived.conf with its unicast peer, keepalived started from it. */
function keepalivedUserData(options: { dir: string; self: string; peer: string; priority: number; vip: string }): string {
  return Buffer.from([
    '#!/bin/sh',
    'set -eu',
    `D=${options.dir}/$OVERLAY_LB_LAB_INSTANCE_ID`,
    'mkdir -p "$D"',
    'cat > "$D/keepalived.conf" <<EOF',
    'global_defs {',
    '  router_id lab_node',
    '}',
    'vrrp_instance VI_1 {',
    '  state BACKUP',
    '  interface eth0',
    '  virtual_router_id 51',
    `  priority ${options.priority}`,
    '  advert_int 1',
    `  unicast_src_ip ${options.self}`,
    `  unicast_peer {`,
    `    ${options.peer}`,
    '  }',
    '  virtual_ipaddress {',
    `    ${options.vip}/32 dev lo`,
    '  }',
    '}',
    'EOF',
    // Its own pid files: every instance shares the host's file system.
    '/usr/sbin/keepalived --vrrp --log-console --no-syslog -f "$D/keepalived.conf" -p "$D/keepalived.pid" -r "$D/vrrp.pid" >>"$D/keepalived.log" 2>&1',
    'echo "keepalived started"',
    '',
  ].join('\n')).toString('base64');
}

void test('keepalived nodes started by user-data: no protocol 112 in their group gives two masters, 112 from the group gives one', { skip, timeout: 600_000 }, async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'olbv-lab-'));
  const dir = await mkdtemp(join(tmpdir(), 'olbv-nodes-'));
  const prefix = `olbv${process.pid}`.slice(0, 12);
  const stateFile = join(stateDir, `${prefix}state.json`);
  t.after(async () => {
    await stopLab(stateFile, { signal: AbortSignal.timeout(60_000) });
    await rm(stateDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });
  const before = await leftovers(prefix, stateDir);
  const lab = await startLab({ specFile: SPEC, prefix, stateDir, bare: true, signal: AbortSignal.timeout(120_000) });
  t.after(() => lab.close());
  const signal = AbortSignal.timeout(540_000);
  const region = lab.adminCredentials.region;
  const ec2 = new EC2Client({ region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials });
  t.after(() => ec2.destroy());

  // GIVEN a group with no ingress rule at all (so no VRRP), two subnets in two AZs
  const { GroupId: groupId } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'lb-nodes', Description: 'LB nodes', VpcId: lab.plan.vpc.id }));
  assert.ok(groupId !== undefined);
  const subnets = lab.plan.subnets.filter((s) => s.role === 'lb').slice(0, 2);
  assert.equal(subnets.length, 2);
  assert.notEqual(subnets[0]!.az, subnets[1]!.az);
  const addresses = subnets.map((s) => formatIpv4(parseCidr(s.cidr).base + 20));
  const vip = lab.plan.vip;
  // WHEN each node is launched with user-data that starts keepalived with the other as its peer
  const ids: string[] = [];
  for (const [i, subnet] of subnets.entries()) {
    const run = await ec2.send(new RunInstancesCommand({
      ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnet.id, PrivateIpAddress: addresses[i]!,
      SecurityGroupIds: [groupId],
      UserData: keepalivedUserData({ dir, self: addresses[i]!, peer: addresses[1 - i]!, priority: i === 0 ? 150 : 100, vip }),
    }));
    ids.push(run.Instances![0]!.InstanceId!);
  }
  const describe = async (): Promise<Instance[]> => ((await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  await waitFor('both running', describe, (list) => list.length === 2 && list.every((i) => i.State?.Name === 'running'));
  // A MASTER holds the VIP on its lo (keepalived adds it on MASTER and removes it on BACKUP).
  const masters = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const id of ids) {
      const lo = await lab.exec(id, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'lo'], { signal, allowFailure: true });
      if (lo.stdout.includes(` ${vip}/32 `)) out.push(id);
    }
    return out;
  };
  // THEN both are MASTER: each one's adverts are dropped at the other's ENI
  await waitFor('both MASTER', masters, (m) => m.length === 2, 120_000);
  assert.equal((await processesMentioning(join(dir, ids[0]!))).length > 0, true, 'keepalived of the first node runs');

  // WHEN VRRP (protocol 112) from the group itself is authorized
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: '112', UserIdGroupPairs: [{ GroupId: groupId }] }] }));
  await lab.settled();
  // THEN the lower priority hears the higher one and goes back to BACKUP: one master
  const one = await waitFor('one MASTER', masters, (m) => m.length === 1, 120_000);
  assert.deepEqual(one, [ids[0]]);

  await lab.close();
  assert.deepEqual(await leftovers(prefix, stateDir), before);
  assert.deepEqual(await processesMentioning(dir), []);
});
