/**
 * Stickiness cookies the load balancer issues (`stickyCookie`, issue 21): the pieces of
 * haproxy.cfg the HAProxy compiler (./haproxy.ts) writes for them.
 *
 * On a split the sides are different backends, so HAProxy's own `cookie ... insert` (which picks
 * a server inside one backend) cannot choose between them: the split reads the cookie through an
 * exact map of its sides' backends (a value naming a side of weight > 0 keeps the client there),
 * otherwise draws a side by weight, records that in {@link TXN_STICKY_SET}, and a frontend
 * `http-response add-header Set-Cookie` sets the cookie to the drawn backend. On a backend it is
 * HAProxy's `cookie <name> insert indirect nocache`, with each server valued by its name.
 */
import type { StickyCookie } from '../model/spec.js';
import { SystemError } from '../util/errors.js';
import { assertName } from './quote.js';

/**
 * Map of a split with an LB-issued cookie: `<frontend>.<route>.sticky.map`, one line `backend
 * backend` per side of weight > 0 (the cookie values that keep a client on their side). An exact
 * map, so a weight change updates it at run time with the split map, without a reload.
 */
export function stickyMapName(frontend: string, route: string): string {
  return `${frontend}.${route}.sticky.map`;
}

/** Which split route's LB-issued cookie the response must set (its 1-based index). */
export const TXN_STICKY_SET = 'txn.olb_sck';

/** Max-Age in whole seconds (the spec layer allows whole seconds only). */
function maxAgeSeconds(c: StickyCookie): number | undefined {
  if (c.durationMs === undefined) return undefined;
  if (!Number.isSafeInteger(c.durationMs / 1000) || c.durationMs <= 0) throw new SystemError('INTERNAL', `stickyCookie ${c.name} has a duration of ${c.durationMs} ms; the spec layer allows whole seconds only`);
  return c.durationMs / 1000;
}

/** `NAME=VALUE; Path=/; Max-Age=N; HttpOnly; Secure; SameSite=X`: every part a validated token or a fixed word. */
export function setCookieValue(c: StickyCookie, value: string): string {
  const maxAge = maxAgeSeconds(c);
  return [
    `${assertName(c.name, 'sticky cookie')}=${value}`,
    'Path=/',
    ...(maxAge === undefined ? [] : [`Max-Age=${maxAge}`]),
    ...(c.httpOnly ? ['HttpOnly'] : []),
    ...(c.secure ? ['Secure'] : []),
    ...(c.sameSite === undefined ? [] : [`SameSite=${assertName(c.sameSite, 'SameSite')}`]),
  ].join('; ');
}

/** A backend's `cookie` line: HAProxy inserts the cookie (valued with the server's `cookie`) when the client has no valid one. */
export function backendCookieLine(c: StickyCookie): string {
  const maxAge = maxAgeSeconds(c);
  // `indirect`: no cookie for a client whose cookie is valid; `nocache`: shared caches never store a response that sets it.
  const words = ['cookie', assertName(c.name, 'sticky cookie'), 'insert', 'indirect', 'nocache'];
  if (c.httpOnly) words.push('httponly');
  if (c.secure) words.push('secure');
  if (c.sameSite !== undefined) words.push('attr', `SameSite=${assertName(c.sameSite, 'SameSite')}`);
  if (maxAge !== undefined) words.push('attr', `Max-Age=${maxAge}`);
  return `  ${words.join(' ')}`;
}
