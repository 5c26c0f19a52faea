/** Reads a spec file and parses it: the one way operations get a `Spec`. */
import { readFile } from 'node:fs/promises';
import type { Spec } from '../model/spec.js';
import { parseSpec } from '../spec/parse.js';
import { SpecInvalidError, UserError } from '../util/errors.js';

export interface LoadedSpec {
  readonly spec: Spec;
  /** sha256 hex of the normalized spec (see `specHash`). */
  readonly hash: string;
  /** The path as given. */
  readonly file: string;
}

/**
 * Loads and validates the spec at `path`.
 * @throws UserError FILE_READ when the file cannot be read; SpecInvalidError with every
 *   diagnostic when it is invalid.
 */
export async function loadSpecFile(path: string, options: { signal?: AbortSignal }): Promise<LoadedSpec> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', ...(options.signal === undefined ? {} : { signal: options.signal }) });
  } catch (err) {
    if (options.signal?.aborted === true) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new UserError('FILE_READ', `cannot read spec ${path}: ${why}; check the path (see examples/demo.yaml for a spec)`, { cause: err, details: { path } });
  }
  const result = parseSpec(text, { file: path });
  if (!result.ok) throw new SpecInvalidError(result.diagnostics);
  return { spec: result.spec, hash: result.hash, file: path };
}
