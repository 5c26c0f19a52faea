/**
 * Writes schema/overlay-lb.schema.json from the spec's zod schema.
 * Usage (after building): `node dist/src/ops/gen-schema.js --write`
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { JSON_SCHEMA_PATH, renderJsonSchema } from '../speclang/json-schema.js';
import { SystemError } from '../util/errors.js';

/** The repository root, from this file's location (src/ops or dist/src/ops). */
export function repoRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.replace(/\/(dist\/)?src\/ops\/?$/, '');
}

/** Writes the JSON Schema to `path` (default: the committed location). */
export async function writeJsonSchema(options: { path?: string; signal: AbortSignal }): Promise<string> {
  const path = options.path ?? `${repoRoot()}/${JSON_SCHEMA_PATH}`;
  try {
    await writeFile(path, renderJsonSchema(), { signal: options.signal });
  } catch (err) {
    throw new SystemError('FILE_WRITE', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
  return path;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--write')) {
  const path = await writeJsonSchema({ signal: AbortSignal.timeout(10_000) });
  process.stdout.write(`wrote ${path}\n`);
}
