/** The one shape of a synth-time error of the construct: where, which prop, the value, the fix. */
import { UserError } from '../../src/util/errors.js';

/**
 * A CONSTRUCT_PROPS error (docs/errors.md): `OverlayLb <path>: <prop> <value> <problem>; <fix>`.
 * A user's mistake, never a stack of ours: CDK prints the message and stops the synth.
 */
export function propsError(where: string, prop: string, value: string, problem: string, fix: string, cause?: unknown): UserError {
  return new UserError('CONSTRUCT_PROPS', `OverlayLb ${where}: ${prop} ${JSON.stringify(value)} ${problem}; ${fix}`, cause === undefined ? {} : { cause });
}
