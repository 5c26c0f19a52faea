/**
 * The CLI side of `apply SPEC --cluster` and `rollback SPEC --cluster` (src/provision/rollout.ts):
 * flags checked, progress lines, the result as text or JSON, a failed node as one error line.
 */
import { applyCluster, rollbackCluster, rolloutFailure, type RolloutEvent, type RolloutResult } from '../../provision/rollout.js';
import { UserError } from '../../util/errors.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';

/** `--endpoint-url`: an http(s) URL, or a usage error naming the value. */
export function checkEndpoint(command: string, endpoint: string | undefined): string | undefined {
  if (endpoint !== undefined && !/^https?:\/\/[^\s'"`]+$/.test(endpoint)) throw new UserError('CLI_USAGE', `${command}: --endpoint-url ${JSON.stringify(endpoint)} is not an http(s) URL, for example http://127.0.0.1:4566/`);
  return endpoint;
}

function nodeTimeoutMs(command: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 3600) throw new UserError('CLI_USAGE', `${command}: --node-timeout ${JSON.stringify(value)} is not allowed: give whole seconds from 1 to 3600, for example --node-timeout 120`);
  return Number(value) * 1000;
}

function describe(event: RolloutEvent): string {
  switch (event.kind) {
    case 'uploaded': return event.written ? `uploaded the spec as version ${event.specVersion}` : `the spec is already stored as version ${event.specVersion}`;
    case 'order': return `order: ${event.order.join(', ')} (master ${event.master} last)`;
    case 'node-started': return `  ${event.node}: asked to take the version; waiting for its published status`;
    case 'node-passed': return `  ${event.node}: ${event.reason}`;
  }
}

/** Runs `apply --cluster` or `rollback --cluster`; exit 0 every node passed, 1 a node failed. */
export async function runClusterRollout(command: 'apply' | 'rollback', o: { readonly file: string; readonly json: boolean; readonly endpoint: string | undefined; readonly nodeTimeout: string | undefined }, io: CliIo, signal: AbortSignal): Promise<number> {
  const endpoint = checkEndpoint(command, o.endpoint);
  const deadline = nodeTimeoutMs(command, o.nodeTimeout);
  const options = {
    specFile: o.file, signal, ...(endpoint === undefined ? {} : { endpoint }), ...(deadline === undefined ? {} : { nodeDeadlineMs: deadline }),
    ...(o.json ? {} : { onEvent: (e: RolloutEvent) => io.out(describe(e)) }),
  };
  let result: RolloutResult & { readonly from?: string };
  if (command === 'apply') {
    result = await applyCluster(options);
  } else {
    result = await rollbackCluster(options);
    if (!o.json) io.out(`rolled back from version ${result.from ?? '?'} to ${result.target.specVersion}`);
  }
  if (o.json) io.out(JSON.stringify(result));
  if (result.failed !== null) {
    const err = rolloutFailure(result);
    if (o.json) return EXIT.failure;
    throw err;
  }
  if (!o.json) io.out(`every node runs spec version ${result.target.specVersion}: ${result.passed.join(', ')}`);
  return EXIT.ok;
}
