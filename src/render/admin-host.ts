import type { AdminBind, Ipv4 } from '../model/spec.js';

/**
 * The address an admin listener binds: 127.0.0.1, the node's own address, or the VIP (stats only).
 * The one mapping used by the HAProxy and keepalived renderers and the agent, so that a listener
 * and its clients (the agent's health probe, keepalived's /alive check) always agree.
 */
export function adminHost(bind: AdminBind, node: { readonly address: Ipv4 }, vip: Ipv4): Ipv4 {
  return bind === 'localhost' ? '127.0.0.1' : bind === 'node' ? node.address : vip;
}
