import type { Cluster, ClusterNode } from '../model/spec.js';
import { UserError } from '../util/errors.js';
import { SAFE_NAME_RE, quoteForMessage } from './names.js';

/**
 * The one lookup of a node by name (the renderers, `overlay-lb render`, the agent): a name that is
 * not in the spec is the user's mistake, reported as SPEC_NODE naming the known nodes and the fix.
 * Names are quoted for the message when they are not safe names (a hostile `--node` never reaches
 * a terminal raw).
 */
export function findNode(cluster: Cluster, name: string): ClusterNode {
  const node = cluster.nodes.find((n) => n.name === name);
  if (node !== undefined) return node;
  const known = cluster.nodes.map((n) => (SAFE_NAME_RE.test(n.name) ? n.name : quoteForMessage(n.name))).join(', ');
  throw new UserError(
    'SPEC_NODE',
    `node ${quoteForMessage(name)} is not in the spec of cluster ${quoteForMessage(cluster.name)}; known nodes: ${known === '' ? '(none)' : known}. Pass one of them with --node.`,
    { details: { node: name, known: cluster.nodes.map((n) => n.name) } },
  );
}
