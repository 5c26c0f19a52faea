import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { JSON_SCHEMA_PATH, buildJsonSchema, renderJsonSchema } from '../../src/speclang/json-schema.js';

void test('schema/overlay-lb.schema.json is up to date (regenerate: node dist/src/ops/gen-schema.js --write)', async () => {
  const committed = await readFile(new URL(`../../../${JSON_SCHEMA_PATH}`, import.meta.url), 'utf8');
  assert.equal(committed, renderJsonSchema());
});

void test('the JSON Schema describes the spec with closed maps', () => {
  const s = buildJsonSchema() as { required: string[]; additionalProperties: boolean; properties: Record<string, unknown> };
  assert.deepEqual(s.required, ['cluster', 'frontends', 'backends']);
  assert.equal(s.additionalProperties, false);
  assert.deepEqual(Object.keys(s.properties), ['version', 'cluster', 'admin', 'frontends', 'backends', 'switches', 'discovery', 'provision']);
});
