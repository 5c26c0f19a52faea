// Issue 18's "two masters" case with nodes nobody built by hand, in a real lab (`lab up --bare`,
// root, under the shared lock): two instances launched through the API in two subnets (two AZs),
// whose user-data writes a minimal keepalived.conf (unicast peers, the VIP on `lo`) and starts the
// host's /usr/sbin/keepalived in the instance's namespace. Their security group has no rule for
// protocol 112, so each one's adverts are dropped at the other's ENI: both become MASTER (both
// hold the VIP). Authorizing protocol 112 from the group itself leaves one MASTER (the higher
// priority). `lab down` leaves nothing, keepalived included.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DescribeInstancesCommand, RunInstancesCommand, type Instance,
} from '@aws-sdk/client-ec2';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { formatIpv4, parseCidr } from '../../src/lab/plan.js';
import { needsRoot as skip, processesMentioning, startBareLab, waitFor } from '../helpers/bare-lab.js';

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
  const { lab, ec2, before, ...bare } = await startBareLab(t, { tag: 'olbv' });
  const dir = await bare.tempDir('nodes');
  const signal = AbortSignal.timeout(540_000);

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
  assert.deepEqual(await bare.leftovers(), before);
  assert.deepEqual(await processesMentioning(dir), []);
});
