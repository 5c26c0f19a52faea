/** Maps a path in the spec to a 1-based line and column of its YAML node. */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export type SpecPath = readonly (string | number)[];

export interface Position {
  readonly line: number;
  readonly col: number;
}

export interface Locator {
  /** Position of the value at `path`, or of its nearest existing ancestor. */
  value(path: SpecPath): Position;
  /** Position of the key of the last path element (falls back to `value`). */
  key(path: SpecPath): Position;
}

/** A locator over a parsed YAML document. */
export function createLocator(doc: Document, lineCounter: LineCounter): Locator {
  const pos = (offset: number | undefined): Position => {
    // Nothing to point at (an empty document): the start of the file.
    if (offset === undefined) return { line: 1, col: 1 };
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  // Walks as far as the document goes: `found` is false when a segment is missing, and `node` is
  // then the deepest node that exists; `keyOffset` is the key of the last segment reached.
  const walk = (path: SpecPath): { node: Node | null; found: boolean; keyOffset: number | undefined } => {
    let node: Node | null = doc.contents;
    let keyOffset: number | undefined;
    for (const seg of path) {
      if (node !== null && isAlias(node)) node = node.resolve(doc) ?? null;
      if (node !== null && isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
        if (pair === undefined) return { node, found: false, keyOffset: undefined };
        keyOffset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
        node = (pair.value as Node | null) ?? null;
      } else if (node !== null && isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (item === undefined) return { node, found: false, keyOffset: undefined };
        node = item;
        keyOffset = undefined;
      } else {
        return { node, found: false, keyOffset: undefined };
      }
    }
    return { node, found: true, keyOffset };
  };
  const nodePos = (node: Node | null, fallback: number | undefined): Position => {
    const range = node?.range;
    return pos(range === undefined || range === null ? fallback : range[0]);
  };
  return {
    value(path) {
      const w = walk(path);
      return nodePos(w.node, w.keyOffset);
    },
    key(path) {
      const w = walk(path);
      return w.found && w.keyOffset !== undefined ? pos(w.keyOffset) : nodePos(w.node, w.keyOffset);
    },
  };
}
