// The house plan (docs/ARCHITECTURE.md, "Layers and their rules") as data, and the local lint
// rule that finds import cycles. eslint.config.js turns the table into one import rule per folder.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Which folders of src/ each folder may import (besides itself). A folder missing from a list is
 * an arrow the plan does not allow: up (the lab into the CLI), or sideways into a part it should
 * not know. `agent` is the composition root: only the CLI starts it.
 */
export const LAYERS = {
  util: [],
  model: ['util'],
  speclang: ['model', 'util'],
  render: ['model', 'speclang', 'util'],
  plan: ['model', 'render', 'speclang', 'util'],
  haproxy: ['model', 'util'],
  keepalived: ['haproxy', 'model', 'render', 'util'],
  cloud: ['model', 'util'],
  discovery: ['cloud', 'model', 'speclang', 'util'],
  failover: ['cloud', 'keepalived', 'model', 'util'],
  'agent-api': ['apply', 'cloud', 'failover', 'model', 'util'],
  handoff: ['agent-api', 'failover', 'keepalived', 'model', 'util'],
  'cluster-ops': ['agent-api', 'model', 'util'],
  apply: ['discovery', 'haproxy', 'model', 'plan', 'render', 'speclang', 'util'],
  ops: ['haproxy', 'keepalived', 'model', 'render', 'speclang', 'util'],
  provision: ['agent-api', 'cloud', 'model', 'ops', 'speclang', 'util'],
  lab: ['agent-api', 'cloud', 'haproxy', 'keepalived', 'model', 'ops', 'plan', 'render', 'speclang', 'util'],
  agent: ['agent-api', 'apply', 'cloud', 'discovery', 'failover', 'handoff', 'haproxy', 'keepalived', 'model', 'ops', 'plan', 'render', 'speclang', 'util'],
  cli: ['agent', 'agent-api', 'apply', 'cloud', 'cluster-ops', 'discovery', 'failover', 'handoff', 'haproxy', 'keepalived', 'lab', 'model', 'ops', 'plan', 'provision', 'render', 'speclang', 'util'],
};

/** Layers that do no I/O. */
export const PURE_LAYERS = ['model', 'speclang', 'render', 'plan'];

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;
/** file -> the files it imports (relative imports only), read once per lint run. */
const graph = new Map();

function importsOf(file) {
  let out = graph.get(file);
  if (out) return out;
  out = [];
  graph.set(file, out);
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const m of text.matchAll(IMPORT_RE)) {
    const target = resolve(dirname(file), m[1]).replace(/\.js$/, '.ts');
    if (existsSync(target)) out.push({ spec: m[1], target });
  }
  return out;
}

/** A path of imports from `from` back to `to`, or null. */
function pathBack(from, to, seen = new Set()) {
  if (from === to) return [to];
  if (seen.has(from)) return null;
  seen.add(from);
  for (const { target } of importsOf(from)) {
    const rest = pathBack(target, to, seen);
    if (rest) return [from, ...rest];
  }
  return null;
}

/** `house/no-cycle`: an import that leads back to the importing file (type-only imports count: a circle is a circle). */
const noCycle = {
  meta: { type: 'problem', docs: { description: 'No import cycles between modules.' }, schema: [], messages: { cycle: 'Import cycle: {{path}}. Move what both need into a third module, or down a layer.' } },
  create(context) {
    const file = context.filename;
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
    };
    function check(node) {
      const spec = node.source?.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      if (!existsSync(target)) return;
      const back = pathBack(target, file);
      if (back) context.report({ node, messageId: 'cycle', data: { path: [file, ...back].map((f) => f.slice(f.indexOf('/src/') + 1)).join(' -> ') } });
    }
  },
};

export const housePlugin = { rules: { 'no-cycle': noCycle } };
