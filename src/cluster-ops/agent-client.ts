import type { ControlApi, ControlError, ControlRoute } from '../agent-api/contract.js';
import { SystemError, UserError } from '../util/errors.js';
import type { ErrorCode } from '../util/errors.js';
import { unixHttpRequest } from '../util/http-request.js';

/** How the CLI reaches one node's agent: its control socket. */
export interface AgentEndpoint {
  readonly node: string;
  readonly socketPath: string;
}

/**
 * One control operation on an agent's control socket (HTTP over a unix socket, JSON in and out),
 * typed by the agent's wire contract (src/agent-api/contract.ts): `route` is `METHOD /path`.
 * @throws SystemError AGENT_UNREACHABLE when nothing answers; the agent's own error (code and message) when it refuses.
 */
export async function agentCall<R extends ControlRoute>(endpoint: AgentEndpoint, route: R, body: ControlApi[R]['request'], options: { readonly signal: AbortSignal; readonly timeoutMs?: number }): Promise<ControlApi[R]['response']> {
  const [method, path] = route.split(' ') as ['GET' | 'POST', string];
  const { status, text } = await unixHttpRequest(endpoint.socketPath, method, path, body, options).catch((cause: unknown) => {
    throw new SystemError('AGENT_UNREACHABLE', `the agent of ${endpoint.node} does not answer on ${endpoint.socketPath}: ${(cause as Error).message}; is it running, and is the run directory right?`, { cause, details: { node: endpoint.node } });
  });
  const parsed = JSON.parse(text) as ControlApi[R]['response'] & Partial<ControlError>;
  if (status !== 200) {
    const code = (parsed.error?.code ?? 'INTERNAL') as ErrorCode;
    const message = `${endpoint.node}: ${parsed.error?.message ?? `agent answered ${status}`}`;
    throw status < 500 ? new UserError(code, message) : new SystemError(code, message);
  }
  return parsed;
}

/**
 * The control socket of every node from a run-dir template (`{node}` is replaced by the node's
 * name), e.g. `/run/overlay-lb-lab/olb-lab/nodes/{node}` in the lab.
 */
export function endpointsFromTemplate(template: string, nodes: readonly string[]): AgentEndpoint[] {
  if (!template.includes('{node}')) throw new UserError('CLI_USAGE', `--run-dir-template ${JSON.stringify(template)} has no {node} placeholder; e.g. /run/overlay-lb-lab/olb-lab/nodes/{node}`);
  return nodes.map((node) => ({ node, socketPath: `${template.replaceAll('{node}', node).replace(/\/$/, '')}/agent.sock` }));
}
