/** Reads a spec file and parses it: the one way operations get a `Spec`. */
import type { Spec } from '../model/spec.js';
import { parseSpec } from '../speclang/parse.js';
import { SpecInvalidError } from '../util/errors.js';
import { readInputFile } from './paths.js';

export interface LoadedSpec {
  readonly spec: Spec;
  /** sha256 hex of the normalized spec (see `specHash`). */
  readonly hash: string;
  /** The path as given. */
  readonly file: string;
  /** The file's text as read and validated (what `overlay-lb up` uploads for the nodes). */
  readonly text: string;
}

/**
 * Loads and validates the spec at `path`.
 * @throws UserError FILE_READ when the file cannot be read (missing, a directory, a device, over
 *   16 MiB); a FIFO or `/dev/stdin` is read like a file; SpecInvalidError with every
 *   diagnostic when it is invalid.
 */
export async function loadSpecFile(path: string, options: { signal?: AbortSignal }): Promise<LoadedSpec> {
  const text = await readInputFile(path, {
    what: 'spec',
    fix: 'check the path (see examples/demo.yaml for a spec)',
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const result = parseSpec(text, { file: path });
  if (!result.ok) throw new SpecInvalidError(result.diagnostics);
  return { spec: result.spec, hash: result.hash, file: path, text };
}
