/**
 * Small typed builders of validated model objects (src/model/spec.ts) for renderer tests: they
 * apply the same defaults the spec layer documents, so a test states only what it is about.
 * They bypass the spec layer on purpose (hostile-value tests build what it would reject).
 */
import type { Backend, Condition, Frontend, Route, RouteAction, Server, Spec, StickyKey, Switch } from '../../src/model/spec.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function makeSpec(over: Partial<Mutable<Spec>> & { readonly nodeCount?: number } = {}): Spec {
  const nodeCount = over.nodeCount ?? 2;
  const zones = ['az-a', 'az-b', 'az-c'];
  const letters = ['a', 'b', 'c'];
  const nodes = Array.from({ length: nodeCount }, (_, i) => ({
    name: `lb-${letters[i] ?? String(i)}`,
    address: `10.0.${i + 1}.10`,
    zone: zones[i] ?? `az-${i}`,
    priority: 200 - 10 * i,
    interface: 'eth0',
  }));
  return {
    version: 1,
    cluster: over.cluster ?? {
      name: 'demo',
      vip: '192.168.100.10',
      vpcCidrs: ['10.0.0.0/16'],
      peerCidrs: [],
      nodes,
      vrrp: { virtualRouterId: 51, advertIntervalMs: 100, preempt: true, preemptDelayMs: 10000, markerAddress: '169.254.240.51' },
      cloud: { provider: 'lab', region: 'us-east-1', vpcId: 'vpc-0de30000000000001', routeTables: { kind: 'all', exclude: [] }, failover: 'route', recheckIntervalMs: 10000 },
    },
    admin: over.admin ?? makeAdmin(),
    frontends: over.frontends ?? [],
    backends: over.backends ?? [],
    switches: over.switches ?? [],
    discovery: over.discovery ?? [],
  };
}

export function makeAdmin(over: Partial<Mutable<Spec['admin']>> = {}): Spec['admin'] {
  return {
    stats: { enabled: true, bind: 'localhost', port: 8404 },
    health: { bind: 'localhost', port: 8405, path: '/healthz' },
    runtimeSocket: '/run/overlay-lb/haproxy.sock',
    masterSocket: '/run/overlay-lb/haproxy-master.sock',
    stateDir: '/run/overlay-lb',
    agent: { bind: 'localhost', port: 8406 },
    ...over,
  };
}

export function makeFrontend(name: string, over: Partial<Mutable<Frontend>> = {}): Frontend {
  return {
    name,
    mode: 'http',
    binds: [{ address: 'vip', port: 80 }],
    timeouts: { clientMs: 30000, httpRequestMs: 10000, httpKeepAliveMs: 10000 },
    accessLog: { enabled: true, format: 'default' },
    forwardedFor: true,
    defaultBackend: 'app',
    routes: [],
    ...over,
  };
}

export function makeBackend(name: string, over: Partial<Mutable<Backend>> = {}): Backend {
  return {
    name,
    mode: 'http',
    balance: { kind: 'roundrobin' },
    servers: [],
    spareSlots: 0,
    healthCheck: { type: 'none' },
    retries: 3,
    redispatch: true,
    timeouts: { connectMs: 5000, serverMs: 30000, queueMs: 30000 },
    drainMs: 30_000,
    slowStartMs: 0,
    ...over,
  };
}

export function makeServer(name: string, address: string, port: number, over: Partial<Mutable<Server>> = {}): Server {
  return { name, address, port, weight: 100, backup: false, ...over };
}

export function route(name: string, conditions: readonly Condition[], action: RouteAction): Route {
  return { name, conditions, action };
}

export const to = (backend: string): RouteAction => ({ kind: 'backend', backend });
export const toSwitch = (name: string): RouteAction => ({ kind: 'switch', switch: name });
export function toSplit(sides: readonly (readonly [string, number])[], sticky?: StickyKey): RouteAction {
  const base = { kind: 'split' as const, sides: sides.map(([backend, weight]) => ({ backend, weight })) };
  return sticky === undefined ? base : { ...base, sticky };
}

export const headerExact = (name: string, value: string): Condition => ({ kind: 'header', name, match: { type: 'exact', value } });
export const headerPrefix = (name: string, value: string): Condition => ({ kind: 'header', name, match: { type: 'prefix', value } });
export const headerRegex = (name: string, value: string): Condition => ({ kind: 'header', name, match: { type: 'regex', value } });
export const headerPresent = (name: string): Condition => ({ kind: 'header', name, match: { type: 'present' } });
export const headerAbsent = (name: string): Condition => ({ kind: 'header', name, match: { type: 'absent' } });
export const hostExact = (value: string): Condition => ({ kind: 'host', match: { type: 'exact', value } });
export const hostSuffix = (value: string): Condition => ({ kind: 'host', match: { type: 'suffix', value } });
export const pathExact = (value: string): Condition => ({ kind: 'path', match: { type: 'exact', value } });
export const pathPrefix = (value: string): Condition => ({ kind: 'path', match: { type: 'prefix', value } });
export const pathRegex = (value: string): Condition => ({ kind: 'path', match: { type: 'regex', value } });
export const method = (...methods: string[]): Condition => ({ kind: 'method', methods });
export const source = (...cidrs: string[]): Condition => ({ kind: 'source', cidrs });

export function makeSwitch(name: string, sides: Readonly<Record<string, string>>, active: string): Switch {
  return { name, sides: Object.entries(sides).map(([n, backend]) => ({ name: n, backend })), active };
}
