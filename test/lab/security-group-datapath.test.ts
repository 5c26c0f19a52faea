// The kernel rendering of security groups (pure): one iptables-restore input that replaces every
// rule; tracked flows first, egress by the ENI's MAC on its bridge, ingress by its address and the
// realm of routes that target it (the VIP), DROP (not REJECT) at the end of each ENI's chains, and
// the chains of ENIs no longer filtered deleted in the same commit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EniFirewall } from '../../src/lab/ec2/security-groups.js';
import { renderSecurityGroupRules, securityGroupChainsIn } from '../../src/lab/security-group-datapath.js';

const LB: EniFirewall = {
  networkInterfaceId: 'eni-0000000000000000a', subnetId: 'subnet-1', privateIp: '10.0.1.10', mac: '02:00:00:00:00:0a',
  ingress: [
    { protocol: 'tcp', fromPort: 80, toPort: 80, peers: ['0.0.0.0/0'] },
    { protocol: '112', peers: ['10.0.1.10/32', '10.0.2.10/32'] },
    { protocol: 'icmp', fromPort: 8, toPort: -1, peers: ['10.0.0.0/16'] },
    { protocol: 'udp', fromPort: 1000, toPort: 2000, peers: [] },
  ],
  egress: [{ protocol: '-1', peers: ['0.0.0.0/0'] }],
};

void test('renders one commit: tracked flows, egress by MAC, ingress by address and realm, DROP at the end', () => {
  const text = renderSecurityGroupRules({
    firewalls: [LB, { ...LB, networkInterfaceId: 'eni-0000000000000000b', subnetId: 'subnet-elsewhere' }],
    placeOf: (fw) => (fw.subnetId === 'subnet-1' ? { bridge: 'br-lb1', realm: 3 } : undefined),
    existingChains: ['OLB-SGE-0000000000000000a', 'OLB-SGI-0000000000000000c', 'OLB-SGE-0000000000000000c'],
  });
  assert.deepEqual(text.split('\n'), [
    '*filter',
    ':OLB-SG - [0:0]',
    ':OLB-SGE-0000000000000000a - [0:0]',
    ':OLB-SGI-0000000000000000a - [0:0]',
    ':OLB-SGI-0000000000000000c - [0:0]',
    ':OLB-SGE-0000000000000000c - [0:0]',
    '-A OLB-SG -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A OLB-SG -i br-lb1 -m mac --mac-source 02:00:00:00:00:0a -j OLB-SGE-0000000000000000a',
    '-A OLB-SGE-0000000000000000a -j RETURN',
    '-A OLB-SGE-0000000000000000a -j DROP',
    '-A OLB-SGI-0000000000000000a -p tcp --dport 80 -j ACCEPT',
    '-A OLB-SGI-0000000000000000a -s 10.0.1.10/32 -p 112 -j ACCEPT',
    '-A OLB-SGI-0000000000000000a -s 10.0.2.10/32 -p 112 -j ACCEPT',
    '-A OLB-SGI-0000000000000000a -s 10.0.0.0/16 -p icmp --icmp-type 8 -j ACCEPT',
    '-A OLB-SGI-0000000000000000a -j DROP',
    '-A OLB-SG -d 10.0.1.10/32 -j OLB-SGI-0000000000000000a',
    '-A OLB-SG -m realm --realm 3 -j OLB-SGI-0000000000000000a',
    '-X OLB-SGI-0000000000000000c',
    '-X OLB-SGE-0000000000000000c',
    'COMMIT',
    '',
  ]);
});

void test('an empty rule set still clears every chain', () => {
  const text = renderSecurityGroupRules({ firewalls: [], placeOf: () => undefined, existingChains: securityGroupChainsIn(':OLB-SGE-00000001 - [0:0]\n:OLB-SDC - [0:0]\n') });
  assert.deepEqual(text.split('\n'), [
    '*filter', ':OLB-SG - [0:0]', ':OLB-SGE-00000001 - [0:0]', '-A OLB-SG -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-X OLB-SGE-00000001', 'COMMIT', '',
  ]);
});
