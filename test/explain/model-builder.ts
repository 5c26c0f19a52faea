/**
 * A tiny typed builder of validated-model objects for explain's unit tests (the routing parts
 * matter; everything else gets plausible defaults).
 */
import type { Backend, Condition, Frontend, Route, RouteAction, Spec, Switch } from '../../src/model/spec.js';

export function backend(name: string): Backend {
  return {
    name,
    mode: 'http',
    balance: { kind: 'roundrobin' },
    servers: [{ name: 's1', address: '127.0.0.1', port: 8080, weight: 100, backup: false }],
    spareSlots: 0,
    healthCheck: { type: 'none' },
    retries: 3,
    redispatch: true,
    timeouts: { connectMs: 5000, serverMs: 30000, queueMs: 5000 },
    drainMs: 30_000,
    slowStartMs: 0,
  };
}

export function frontend(options: { name?: string; mode?: 'http' | 'tcp'; defaultBackend?: string; routes: readonly Route[] }): Frontend {
  return {
    name: options.name ?? 'web',
    mode: options.mode ?? 'http',
    binds: [{ address: '127.0.0.1', port: 8080 }],
    timeouts: { clientMs: 30000, httpRequestMs: 10000, httpKeepAliveMs: 1000 },
    accessLog: { enabled: false },
    forwardedFor: true,
    defaultBackend: options.defaultBackend ?? 'default',
    routes: options.routes,
  };
}

export function route(name: string, conditions: readonly Condition[], action: RouteAction | string): Route {
  return { name, conditions, action: typeof action === 'string' ? { kind: 'backend', backend: action } : action };
}

export function spec(options: { frontends: readonly Frontend[]; switches?: readonly Switch[] }): Spec {
  const names = new Set<string>();
  for (const f of options.frontends) {
    names.add(f.defaultBackend);
    for (const r of f.routes) {
      if (r.action.kind === 'backend') names.add(r.action.backend);
      if (r.action.kind === 'split') for (const s of r.action.sides) names.add(s.backend);
    }
  }
  for (const sw of options.switches ?? []) for (const s of sw.sides) names.add(s.backend);
  return {
    version: 1,
    cluster: {
      name: 'test',
      vip: '192.168.100.10',
      vpcCidrs: ['10.0.0.0/16'],
      peerCidrs: [],
      nodes: [{ name: 'lb-a', address: '10.0.1.10', zone: 'az-a', priority: 200, interface: 'eth0' }],
      vrrp: { virtualRouterId: 51, advertIntervalMs: 100, preempt: true, preemptDelayMs: 10000, markerAddress: '169.254.240.51' },
      cloud: { provider: 'none', routeTables: { kind: 'all', exclude: [] }, failover: 'route', recheckIntervalMs: 10000 },
    },
    admin: {
      stats: { enabled: true, bind: 'localhost', port: 8404 },
      health: { bind: 'node', port: 8405, path: '/healthz' },
      runtimeSocket: '/run/overlay-lb/haproxy.sock',
      masterSocket: '/run/overlay-lb/haproxy-master.sock',
      stateDir: '/run/overlay-lb',
      agent: { bind: 'localhost', port: 8406 },
    },
    frontends: options.frontends,
    backends: [...names].map(backend),
    switches: options.switches ?? [],
    discovery: [],
  };
}

/** One-frontend spec from routes. */
export function routesSpec(routes: readonly Route[], options: { switches?: readonly Switch[] } = {}): Spec {
  return spec({ frontends: [frontend({ routes })], ...(options.switches === undefined ? {} : { switches: options.switches }) });
}
