import { loadSpecFile } from '../../ops/load-spec.js';
import { renderNodeFiles, resolveOutDir } from '../../ops/render.js';
import { ensureWritableDirectory } from '../../ops/paths.js';
import type { CheckOutcome } from '../../ops/render.js';
import { UserError } from '../../util/errors.js';
import { parseCommandArgs, onePositional } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';

export const renderHelp = `Usage: overlay-lb render SPEC --node NAME --out DIR [--no-validate] [--require-tools]

Writes DIR/haproxy.cfg, DIR/maps/*.map and DIR/keepalived.conf for one node, atomically.
The files are checked with haproxy -c and keepalived's config test (when installed) before
anything in DIR changes; a rejected configuration writes nothing.

  --node NAME       the node to render for (a name from cluster.nodes)
  --out DIR         output directory (created if missing)
  --no-validate     do not run haproxy -c / keepalived --config-test
  --require-tools   fail when haproxy or keepalived is not installed (default: skip that check)`;

export async function runRender(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('render', argv, {
    node: { type: 'string' },
    out: { type: 'string' },
    'no-validate': { type: 'boolean' },
    'require-tools': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(renderHelp), EXIT.ok);
  const file = onePositional('render', positionals, 'spec');
  if (values.node === undefined) throw new UserError('CLI_USAGE', 'render: --node NAME is required (one of the spec\'s cluster.nodes)');
  if (values.out === undefined) throw new UserError('CLI_USAGE', 'render: --out DIR is required, for example --out ./out/lb-a');
  const outDir = resolveOutDir(values.out);
  // Before the spec: a bad --out is reported even when the spec has errors too.
  await ensureWritableDirectory(outDir, { what: 'render: --out', missing: 'allow', signal });
  const { spec, hash } = await loadSpecFile(file, { signal });
  const result = await renderNodeFiles(spec, hash, {
    node: values.node,
    outDir,
    validate: values['no-validate'] ? 'skip' : values['require-tools'] ? 'require' : 'auto',
    signal,
  });
  for (const f of result.files) io.out(`wrote ${f}`);
  io.out(`haproxy -c: ${describe(result.checks.haproxy)}`);
  io.out(`keepalived --config-test: ${describe(result.checks.keepalived)}`);
  return EXIT.ok;
}

function describe(c: CheckOutcome): string {
  switch (c.status) {
    case 'passed': return 'passed';
    case 'skipped': return `skipped (${c.reason})`;
    case 'warning': return `passed with a warning: ${c.reason}\n${c.output}`;
  }
}
