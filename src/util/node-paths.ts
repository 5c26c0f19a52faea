import { posix } from 'node:path';

/**
 * Every file of a node's run dir (`admin.stateDir`, default /run/overlay-lb, mode 0700; one per
 * node in the lab), named once: the agent, the renderers (keepalived's config names the FIFO, the
 * track, priority and heartbeat files), haproxy and keepalived process control, the handoff, the
 * CLI's agent client and the lab all take their paths from here. docs/ARCHITECTURE.md, "Runtime
 * files on a node", describes each. Pure: joins paths, touches nothing.
 */
export function nodePaths(runDir: string): NodePaths {
  const dir = runDir.replace(/\/$/, '');
  const at = (name: string): string => posix.join(dir, name);
  const haproxyDir = at('haproxy');
  return {
    runDir: dir,
    haproxyDir,
    haproxyRuntimeSocket: at('haproxy.sock'),
    haproxyMasterSocket: at('haproxy-master.sock'),
    haproxyPid: at('haproxy.pid'),
    haproxyLog: at('haproxy.log'),
    keepalivedConfig: at('keepalived.conf'),
    keepalivedFifo: at('keepalived.fifo'),
    keepalivedPid: at('keepalived.pid'),
    keepalivedVrrpPid: at('keepalived-vrrp.pid'),
    keepalivedCheckersPid: at('keepalived-checkers.pid'),
    keepalivedLog: at('keepalived.log'),
    track: at('track'),
    priority: at('priority'),
    alive: at('alive'),
    agentSocket: at('agent.sock'),
    agentLog: at('agent.log'),
    handoffRecord: at('handoff.json'),
  };
}

export interface NodePaths {
  readonly runDir: string;
  /** haproxy.cfg, maps/, their last known good copies and the applied state live here (layout: `haproxyPaths` in src/haproxy/config-writer.ts). */
  readonly haproxyDir: string;
  /** Runtime API (0600). */
  readonly haproxyRuntimeSocket: string;
  /** Master CLI (0600). */
  readonly haproxyMasterSocket: string;
  readonly haproxyPid: string;
  readonly haproxyLog: string;
  readonly keepalivedConfig: string;
  readonly keepalivedFifo: string;
  readonly keepalivedPid: string;
  readonly keepalivedVrrpPid: string;
  readonly keepalivedCheckersPid: string;
  readonly keepalivedLog: string;
  /** `0` healthy / `1` FAULT (keepalived's track_file). */
  readonly track: string;
  /** Switchover preference (keepalived's weighted track_file). */
  readonly priority: string;
  /** The agent's heartbeat file (keepalived's agent check). */
  readonly alive: string;
  /** The agent's control socket (0600, never the network). */
  readonly agentSocket: string;
  /** The agent's log in the lab (on a host: journald). */
  readonly agentLog: string;
  /** While a connection handoff is on. */
  readonly handoffRecord: string;
}
