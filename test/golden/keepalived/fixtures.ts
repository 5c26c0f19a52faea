/**
 * Hand-built models for the keepalived renderer's unit, hostile-input and namespace tests (the
 * golden cases are YAML: <case>/spec.yaml). Hostile models are ones the spec layer never produces.
 */
import type { ClusterNode, Spec } from '../../../src/model/spec.js';

/** A fixed sha256 for headers. */
export const FIXTURE_HASH = 'ab'.repeat(32);

export interface FixtureOptions {
  readonly clusterName?: string;
  readonly nodes?: readonly ClusterNode[];
  readonly advertIntervalMs?: number;
  readonly preempt?: boolean;
  readonly preemptDelayMs?: number;
  readonly virtualRouterId?: number;
  readonly stateDir?: string;
  readonly agentPort?: number;
}

/** The demo cluster (examples/demo.yaml) as the spec layer should normalize it. */
export function fixtureSpec(options: FixtureOptions = {}): Spec {
  const vrid = options.virtualRouterId ?? 51;
  return {
    version: 1,
    cluster: {
      name: options.clusterName ?? 'demo',
      vip: '192.168.100.10',
      vpcCidrs: ['10.0.0.0/16'],
      peerCidrs: ['10.1.0.0/16'],
      nodes: options.nodes ?? [
        { name: 'lb-a', address: '10.0.1.10', zone: 'az-a', priority: 200, interface: 'eth0' },
        { name: 'lb-b', address: '10.0.2.10', zone: 'az-b', priority: 190, interface: 'eth0' },
      ],
      vrrp: {
        virtualRouterId: vrid,
        advertIntervalMs: options.advertIntervalMs ?? 100,
        preempt: options.preempt ?? true,
        preemptDelayMs: options.preemptDelayMs ?? 10000,
        markerAddress: `169.254.240.${vrid}`,
      },
      cloud: {
        provider: 'lab',
        region: 'us-east-1',
        vpcId: 'vpc-0de30000000000001',
        routeTables: { kind: 'all', exclude: [] },
        failover: 'route',
        recheckIntervalMs: 10000,
      },
    },
    admin: {
      stats: { enabled: true, bind: 'localhost', port: 8404 },
      health: { bind: 'node', port: 8405, path: '/health' },
      runtimeSocket: '/run/overlay-lb/haproxy.sock',
      masterSocket: '/run/overlay-lb/haproxy-master.sock',
      stateDir: options.stateDir ?? '/run/overlay-lb',
      agent: { bind: 'localhost', port: options.agentPort ?? 8406 },
    },
    frontends: [],
    backends: [],
    switches: [],
    discovery: [],
  };
}

