import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UserError } from '../util/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs in strict mode, with its errors turned into CLI_USAGE errors that name the
 * command and point at its help.
 */
export function parseCommandArgs<T extends Options>(command: string, argv: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UserError('CLI_USAGE', `${command}: ${message}. See: overlay-lb ${command} --help`, { cause: err });
  }
}

/** Exactly one positional argument, for example the spec file. */
export function onePositional(command: string, positionals: readonly string[], what: string): string {
  if (positionals.length !== 1 || positionals[0] === undefined) {
    throw new UserError('CLI_USAGE', `${command}: expected exactly one ${what}, got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}. Usage: overlay-lb ${command} ${what.toUpperCase().replace(/ /g, '_')} ...`);
  }
  return positionals[0];
}
