/**
 * What the packaged systemd unit (packaging/systemd/overlay-lb-agent.service) grants the agent,
 * kept here so the lab can run the agent under the same restrictions without systemd (`setpriv`)
 * and a test can hold the unit file to this list.
 */

/**
 * The unit's `CapabilityBoundingSet=`: what the agent and the programs it starts use, nothing else.
 * - CAP_NET_ADMIN: the VIP on `lo`, the handoff link, routes and policy rules (`ip`, netlink),
 *   iptables, the net.* sysctls of a handoff; keepalived's addresses.
 * - CAP_NET_RAW: keepalived's VRRP (IP protocol 112) raw sockets; iptables' raw socket.
 * - CAP_NET_BIND_SERVICE: HAProxy's frontends on ports below 1024.
 * - CAP_SETUID, CAP_SETGID: HAProxy's workers drop to the `haproxy` user; keepalived runs its
 *   agent check as `nobody`.
 * - CAP_SYS_CHROOT: HAProxy's workers chroot into /var/lib/haproxy.
 * - CAP_KILL: HAProxy's master (root) signals its workers, which run as `haproxy`; keepalived
 *   ends a check script that overruns.
 */
export const AGENT_UNIT_CAPABILITIES = [
  'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID', 'CAP_SYS_CHROOT', 'CAP_KILL',
] as const;
