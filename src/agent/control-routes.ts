import { readFile } from 'node:fs/promises';
import type { PriorityMode } from '../agent-api/contract.js';
import type { FailoverController } from '../failover/controller.js';
import type { Claimer } from '../failover/types.js';
import type { MasterCli } from '../haproxy/master-cli.js';
import type { ClusterNode } from '../model/spec.js';
import { SWITCHOVER_HANDOFF_MS } from '../handoff/handoff-manager.js';
import type { HandoffManager } from '../handoff/handoff-manager.js';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import type { Logger } from '../util/log.js';
import type { ControlHandlers } from './control-server.js';
import type { HaproxyReloads } from './drain-reload.js';

/**
 * The VRRP priority preference a planned switchover writes to keepalived's priority file
 * (`<run dir>/priority`), kept for the synchronous `/status`.
 */
export class PriorityPreference {
  readonly #path: string;
  #adjust: number | null;

  private constructor(path: string, adjust: number | null) {
    this.#path = path;
    this.#adjust = adjust;
  }

  /** The preference in the file now (null: no file, or not a number). */
  static async read(path: string): Promise<PriorityPreference> {
    const n = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    return new PriorityPreference(path, Number.isInteger(n) ? n : null);
  }

  /** The adjustment written last (null: none). */
  get adjust(): number | null {
    return this.#adjust;
  }

  async write(value: number, signal: AbortSignal): Promise<void> {
    await writeFileAtomic(this.#path, `${value}\n`, { signal });
    this.#adjust = value;
  }
}

export interface ControlRoutesOptions {
  /** This node. */
  readonly node: ClusterNode;
  /** The spec's nodes now (a switchover's peer must be one of them). */
  readonly nodes: () => readonly ClusterNode[];
  readonly claimer: Claimer;
  readonly controller: FailoverController;
  readonly handoff: HandoffManager;
  readonly priority: PriorityPreference;
  readonly reloads: HaproxyReloads;
  /** For the old workers' count. */
  readonly masterCli: MasterCli;
  /** `GET /status`. */
  readonly status: ControlHandlers['GET /status'];
  readonly log: Logger;
}

/**
 * The control socket's operations (src/agent-api/contract.ts `ControlApi`): the status, a fresh
 * view of the owned resources, and the steps of a planned switchover (src/cluster-ops/switchover.ts).
 * Every value from the body is checked here: a bad one is a UserError SWITCHOVER_INVALID naming it.
 */
export function controlRoutes(o: ControlRoutesOptions): ControlHandlers {
  const { node, claimer, controller, handoff, log } = o;
  const peerNode = (name: unknown): ClusterNode => {
    const nodes = o.nodes();
    const peer = nodes.find((n) => n.name === name && n.name !== node.name);
    if (!peer) throw new UserError('SWITCHOVER_INVALID', `peer ${JSON.stringify(name)} is not another node of the spec; nodes: ${nodes.map((n) => n.name).join(', ')}`);
    return peer;
  };
  const PRIORITY_MODES: Readonly<Record<PriorityMode, number>> = { preferred: 254 - node.priority, neutral: 0, fault: -254 };
  return {
    'GET /status': o.status,
    // Fresh view of every owned route table (or the EIP): who holds it now, from the cloud API.
    'GET /routes': async (_body, s) => ({ resources: await claimer.inspect(await claimer.list(s), s) }),
    'POST /switchover/handoff': async (body, s) => {
      const peer = peerNode(body['peer']);
      const role = body['role'];
      if (role !== 'target' && role !== 'origin') throw new UserError('SWITCHOVER_INVALID', `handoff role ${JSON.stringify(role)} is not target or origin`);
      return { handoff: await handoff.on(role, peer.name, 'switchover', SWITCHOVER_HANDOFF_MS, s) };
    },
    'POST /switchover/handoff-off': async (body) => ({ removed: await handoff.endSwitchover(body['claimFailed'] === true) }),
    'POST /switchover/yield': (body) => {
      if (body['to'] === null) {
        controller.yieldTo(null);
        return Promise.resolve({ yieldingTo: null });
      }
      const to = peerNode(body['to']).name;
      controller.yieldTo(to, typeof body['ttlMs'] === 'number' ? body['ttlMs'] : 60_000);
      return Promise.resolve({ yieldingTo: to });
    },
    'POST /switchover/claim': async (_body, s) => ({ outcomes: await controller.claimNow('planned switchover', s) }),
    'POST /switchover/priority': async (body, s) => {
      const mode = body['mode'];
      if (mode !== 'preferred' && mode !== 'neutral' && mode !== 'fault') throw new UserError('SWITCHOVER_INVALID', `priority mode ${JSON.stringify(mode)} is not preferred, neutral or fault`);
      const value = PRIORITY_MODES[mode];
      await o.priority.write(value, s);
      log.info({ event: 'priority', mode, adjust: value }, 'VRRP priority adjustment written');
      return { priorityAdjust: value };
    },
    // A reload: the old worker serves its established connections to their end (keep-alive
    // clients get `Connection: close`), the new one takes new connections (none arrive here now).
    'POST /switchover/drain': async (_body, s) => ({ draining: await o.reloads.drain({ code: 'SWITCHOVER_FAILED', signal: s }) }),
    'GET /switchover/drain': async (_body, s) => ({ oldWorkers: (await o.masterCli.showProc({ signal: s })).oldWorkers.length }),
  };
}
