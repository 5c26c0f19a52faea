import { loadSpecFile } from '../../ops/load-spec.js';
import { SpecInvalidError, formatDiagnostic } from '../../util/errors.js';
import { parseCommandArgs, onePositional } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';

export const validateHelp = `Usage: overlay-lb validate SPEC [--json]

Checks a spec and reports every error at once as file:line:col: message.
Exit status: 0 valid, 2 invalid.

  --json   machine-readable result on stdout`;

export async function runValidate(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('validate', argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) return (io.out(validateHelp), EXIT.ok);
  const file = onePositional('validate', positionals, 'spec');
  try {
    const { spec, hash } = await loadSpecFile(file, { signal });
    const routes = spec.frontends.reduce((n, f) => n + f.routes.length, 0);
    if (values.json) {
      io.out(JSON.stringify({ valid: true, file, hash, cluster: spec.cluster.name, nodes: spec.cluster.nodes.length, frontends: spec.frontends.length, routes, backends: spec.backends.length }));
    } else {
      const n = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;
      io.out(`${file}: valid: cluster ${spec.cluster.name}, ${n(spec.cluster.nodes.length, 'node')}, ${n(spec.frontends.length, 'frontend')}, ${n(routes, 'route')}, ${n(spec.backends.length, 'backend')} (spec sha256:${hash.slice(0, 12)})`);
    }
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof SpecInvalidError)) throw err;
    if (values.json) {
      io.out(JSON.stringify({ valid: false, file, errors: err.diagnostics }));
    } else {
      for (const d of err.diagnostics) io.err(formatDiagnostic(d));
      io.err(`${file}: ${err.diagnostics.length} error${err.diagnostics.length === 1 ? '' : 's'}`);
    }
    return EXIT.invalid;
  }
}
