/**
 * The agent's wire contract: what `GET /status` (the status server, and the control socket's
 * `GET /status`) answers, and every control operation's request and response. One definition,
 * used by the agent's servers (src/agent/) and by the clients that read them (the CLI's switchover
 * and status in src/cluster-ops/, tests, benchmarks), so that a field renamed on one side fails the
 * build on the other instead of reading `undefined` at run time. Types only: no code.
 */
import type { PipelineStatus } from '../apply/pipeline.js';
import type { InstanceIdentity } from '../cloud/types.js';
import type { ControllerStatus } from '../failover/controller.js';
import type { ClaimOutcome, ResourceView } from '../failover/types.js';

/** Who asked for a connection handoff: a planned switchover, or a takeover from a live peer (failback). */
export type HandoffReason = 'switchover' | 'takeover';

/** `target`: hands unknown connections to the peer; `origin`: recorded for status only (the link is permanent). */
export type HandoffRole = 'target' | 'origin';

/** The connection handoff in force on a node, as `/status` shows it. */
export interface HandoffStatus {
  readonly role: HandoffRole;
  readonly peer: string;
  /** The peer's node address. */
  readonly peerAddress: string;
  readonly reason: HandoffReason;
  /** When it was turned on (epoch ms). */
  readonly since: number;
  /** When it ends (epoch ms). */
  readonly until: number;
}

/** One thing that failed and is being retried, restarted or kept at its last good state. */
export interface Problem {
  /** `discovery:<source>`, `discovery`, `apply`, `spec`, `task:<name>`, `cloud`, `tls:<file>`. */
  readonly component: string;
  readonly code: string;
  readonly message: string;
  /** When it happened (epoch ms). */
  readonly at: number;
}

/** What became of a spec file change. */
export type SpecRolloutResult = 'applied' | 'invalid' | 'rejected' | 'failed';

/** The last spec file change the agent saw and what became of it. */
export interface SpecRolloutStatus {
  readonly result: SpecRolloutResult;
  /** When (epoch ms). */
  readonly at: number;
  /** null: the file did not parse. */
  readonly specHash: string | null;
  readonly error?: { readonly code: string; readonly message: string };
}

/** A node's agent, as `GET /status` answers. */
export interface AgentStatus {
  readonly node: string;
  readonly address: string;
  readonly cluster: string;
  /** The spec this node runs (every node of a cluster should show the same). */
  readonly specHash: string;
  /** The haproxy.cfg applied last (differs between nodes by design). */
  readonly configHash: string | null;
  /** 1 at start, +1 per spec change rolled out. */
  readonly specGeneration: number;
  readonly apply: PipelineStatus;
  /** null: no cloud, or IMDS has not answered yet. */
  readonly identity: InstanceIdentity | null;
  readonly vrrp: ControllerStatus;
  readonly haproxy: { readonly pid: number | null; readonly alive: boolean; readonly healthy: boolean };
  readonly keepalived: { readonly pid: number; readonly alive: boolean };
  readonly switchover: {
    /** What the agent wrote to keepalived's priority file (null: nothing). */
    readonly priorityAdjust: number | null;
    readonly handoff: HandoffStatus | null;
  };
  /** null: no spec change since start. */
  readonly specRollout: SpecRolloutStatus | null;
  readonly problems: readonly Problem[];
}

/** The VRRP priority preference a switchover sets on a node. */
export type PriorityMode = 'preferred' | 'neutral' | 'fault';

/**
 * Every operation of the control socket (`<run dir>/agent.sock`, HTTP over a unix socket, JSON in
 * and out), by `METHOD /path`: the body the client sends and what a 200 answers. A refusal answers
 * `ControlError` with 4xx (the caller's mistake) or 5xx.
 */
export interface ControlApi {
  readonly 'GET /status': { readonly request: undefined; readonly response: AgentStatus };
  /** A fresh view of every owned route table (or the EIP), from the cloud API. */
  readonly 'GET /routes': { readonly request: undefined; readonly response: { readonly resources: readonly ResourceView[] } };
  /** Turns the connection handoff on towards `peer`; answers the handoff in force. */
  readonly 'POST /switchover/handoff': { readonly request: { readonly role: HandoffRole; readonly peer: string }; readonly response: { readonly handoff: HandoffStatus } };
  /** The switchover's last step; answers whether a handoff was removed. */
  readonly 'POST /switchover/handoff-off': { readonly request: { readonly claimFailed: boolean }; readonly response: { readonly removed: boolean } };
  /** Leave resources held by `to` to it until `ttlMs` (default 60 s); `to: null` ends the yield. */
  readonly 'POST /switchover/yield': { readonly request: { readonly to: string | null; readonly ttlMs?: number }; readonly response: { readonly yieldingTo: string | null } };
  /** Claims every owned resource now. */
  readonly 'POST /switchover/claim': { readonly request: undefined; readonly response: { readonly outcomes: readonly ClaimOutcome[] } };
  /** Writes keepalived's priority file; answers the adjustment written. */
  readonly 'POST /switchover/priority': { readonly request: { readonly mode: PriorityMode }; readonly response: { readonly priorityAdjust: number } };
  /** Reloads HAProxy so that its old worker drains; answers the old workers' pids. */
  readonly 'POST /switchover/drain': { readonly request: undefined; readonly response: { readonly draining: readonly number[] } };
  /** How many old HAProxy workers still serve connections. */
  readonly 'GET /switchover/drain': { readonly request: undefined; readonly response: { readonly oldWorkers: number } };
}

/** One control operation, `METHOD /path`. */
export type ControlRoute = keyof ControlApi;

/** The body of a refused control operation. */
export interface ControlError {
  readonly error: { readonly code: string; readonly message: string };
}

/**
 * What an agent publishes beside the spec in the release bucket (`statusKey` in
 * src/cloud/aws/provision/names.ts), so that `overlay-lb status`, `apply --cluster` and `down`
 * see every node from an operator's machine outside the VPC (no SSH, no route to the nodes).
 */
export interface PublishedNodeStatus {
  readonly format: 1;
  /** When the agent wrote it (epoch ms, the node's clock). */
  readonly publishedAt: number;
  /** The longest the agent leaves it unwritten (a change is written at once): a reader calls it stale after three intervals. */
  readonly intervalMs: number;
  /** The S3 version id of the spec the node runs (null: its spec did not come from S3). */
  readonly specVersion: string | null;
  readonly status: AgentStatus;
  /** Sessions through HAProxy's frontends: whether the node carries traffic (`down` refuses then). */
  readonly traffic: { readonly currentSessions: number; readonly totalSessions: number };
}

/**
 * Which spec version a node may run: written by `overlay-lb apply --cluster` and `rollback` at
 * `desiredKey(prefix, node)` (src/cloud/aws/provision/names.ts), one node at a time, and polled by
 * that node's agent (docs/provisioning.md "Rolling a spec out").
 */
export interface DesiredSpecPointer {
  readonly format: 1;
  /** The S3 version id of the spec object (`specKey`) the node is to run. */
  readonly specVersion: string;
  /** The spec's hash (`overlay-lb validate`'s) of that version: what the node's status shows once applied. */
  readonly specHash: string;
  /** When the CLI wrote it (epoch ms, the operator's clock). */
  readonly writtenAt: number;
}
