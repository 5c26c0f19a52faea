/**
 * The JSON Schema of the spec for editors (yaml-language-server and friends), generated from the
 * same zod schema `parseSpec` validates with. Refinements (exactly one action, references...)
 * are not expressible there; `overlay-lb validate` checks everything.
 *
 * Regenerate schema/overlay-lb.schema.json with `node dist/src/ops/gen-schema.js --write`;
 * test/speclang/json-schema.test.ts fails when the committed file is stale.
 */
import { z } from 'zod';
import { SpecSchema } from './schema.js';

/** Where the committed schema lives, relative to the repository root. */
export const JSON_SCHEMA_PATH = 'schema/overlay-lb.schema.json';

/** The JSON Schema (draft 2020-12) of the spec's YAML input. */
export function buildJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(SpecSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return {
    ...schema,
    $id: 'https://overlay-lb.dev/schema/overlay-lb.schema.json',
    title: 'overlay-lb spec',
    description: 'Frontends, backends and routing of an overlay-lb cluster. See docs/spec.md.',
  };
}

/** The exact text of schema/overlay-lb.schema.json. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(buildJsonSchema(), null, 2)}\n`;
}
