/**
 * A small but complete spec for planner tests: a path-prefix run (web.run-1.map), a header-exact
 * run (web.run-3.map), a switch, a canary split, static backends and one discovery backend with
 * 4 spare slots. `edit` returns a changed deep copy, so each case states only its change.
 */
import type { Spec } from '../../src/model/spec.js';
import { desiredState, type DesiredStateOptions, type HaproxyState, type MembershipInput } from '../../src/plan/state.js';
import { headerExact, makeBackend, makeFrontend, makeServer, makeSpec, makeSwitch, pathPrefix, route, to, toSplit, toSwitch } from '../helpers/model-builders.js';

export type DeepMutable<T> = T extends readonly (infer U)[] ? DeepMutable<U>[] : T extends object ? { -readonly [K in keyof T]: DeepMutable<T[K]> } : T;

export const MAP_DIR = '/var/lib/overlay-lb/maps';

export function baseSpec(): Spec {
  return makeSpec({
    frontends: [
      makeFrontend('web', {
        defaultBackend: 'app',
        routes: [
          route('p1', [pathPrefix('/a/')], to('app')),
          route('p2', [pathPrefix('/b/')], to('api')),
          route('t1', [headerExact('x-tenant', 't1')], to('app')),
          route('t2', [headerExact('x-tenant', 't2')], to('api')),
          route('checkout', [pathPrefix('/checkout')], toSwitch('checkout')),
          route('rollout', [headerExact('x-beta', '1')], toSplit([['app', 95], ['canary', 5]])),
        ],
      }),
    ],
    backends: [
      makeBackend('api', { servers: [makeServer('a1', '10.0.11.31', 8080)] }),
      makeBackend('app', { servers: [makeServer('s1', '10.0.11.11', 8080), makeServer('s2', '10.0.12.11', 8080)] }),
      makeBackend('blue', { servers: [makeServer('b1', '10.0.11.41', 8080)] }),
      makeBackend('canary', { servers: [makeServer('c1', '10.0.11.21', 8080)] }),
      makeBackend('green', { servers: [makeServer('g1', '10.0.12.41', 8080)] }),
      makeBackend('svc', { discovery: { source: 'svc-src' }, spareSlots: 4 }),
    ],
    switches: [makeSwitch('checkout', { blue: 'blue', green: 'green' }, 'blue')],
    discovery: [{ name: 'svc-src', type: 'file', path: '/etc/overlay-lb/svc.json' }],
  });
}

/** A changed deep copy of `spec`. */
export function edit(spec: Spec, change: (s: DeepMutable<Spec>) => void): Spec {
  const copy = structuredClone(spec) as DeepMutable<Spec>;
  change(copy);
  return copy as Spec;
}

/** Membership of the `svc` backend from `address:port[@weight]` strings. */
export function svc(...servers: string[]): MembershipInput {
  return new Map([
    [
      'svc',
      servers.map((s) => {
        const [hostPort = '', weight] = s.split('@');
        const [address = '', port = ''] = hostPort.split(':');
        return weight === undefined ? { address, port: Number(port) } : { address, port: Number(port), weight: Number(weight) };
      }),
    ],
  ]);
}

export function stateOf(spec: Spec, membership: MembershipInput = new Map(), extra: Partial<Pick<DesiredStateOptions, 'previous' | 'now'>> = {}): HaproxyState {
  return desiredState(spec, membership, { node: 'lb-a', specHash: 'test', mapDir: MAP_DIR, ...extra });
}

/** `backend/server -> member` of every occupied spare slot. */
export function slotMap(state: HaproxyState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const b of state.backends) for (const s of b.slots) if (s.member !== undefined) out[`${b.name}/${s.server}`] = `${s.member} ${s.state}`;
  return out;
}
