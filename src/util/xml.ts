/**
 * A small, strict XML reader for the AWS APIs' answers (EC2's Query protocol, S3's errors): the
 * elements, their text and their order; attributes and namespaces are read past and dropped.
 * Not a general XML parser: a document type declaration is refused (no entities beyond XML's
 * five and character references, so no entity expansion), and so is anything malformed, with
 * the offset where it went wrong.
 */

/** One element: its local name (any `prefix:` dropped), its child elements, its text (entities decoded). */
export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  text: string;
}

/** Nesting deeper than this is refused (EC2's deepest answer nests about 8). */
const MAX_DEPTH = 100;

const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function fail(offset: number, what: string): never {
  throw new Error(`malformed XML at offset ${offset}: ${what}`);
}

function decodeText(raw: string, offset: number): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&\s]*);?/g, (all, ref: string) => {
    if (!all.endsWith(';')) fail(offset, `an unterminated entity reference "${all}"`);
    const named = NAMED_ENTITIES[ref];
    if (named !== undefined) return named;
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
    const code = m === null ? NaN : m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2]!, 10);
    if (!(code >= 0x9 && code <= 0x10ffff)) fail(offset, `an unknown entity "&${ref};"`);
    return String.fromCodePoint(code);
  });
}

function localName(qualified: string): string {
  const colon = qualified.indexOf(':');
  return colon < 0 ? qualified : qualified.slice(colon + 1);
}

/** Parses a whole document and returns its root element. Throws on anything malformed. */
export function parseXml(source: string): XmlElement {
  let i = source.charCodeAt(0) === 0xfeff ? 1 : 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const n = source.length;
  while (i < n) {
    const lt = source.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) {
      const raw = source.slice(i, textEnd);
      const top = stack[stack.length - 1];
      if (top !== undefined) top.text += decodeText(raw, i);
      else if (raw.trim() !== '') fail(i, 'text outside the root element');
    }
    if (lt < 0) break;
    i = lt;
    if (source.startsWith('<?', i)) {
      const end = source.indexOf('?>', i + 2);
      if (end < 0) fail(i, 'an unterminated processing instruction');
      i = end + 2;
    } else if (source.startsWith('<!--', i)) {
      const end = source.indexOf('-->', i + 4);
      if (end < 0) fail(i, 'an unterminated comment');
      i = end + 3;
    } else if (source.startsWith('<![CDATA[', i)) {
      const end = source.indexOf(']]>', i + 9);
      const top = stack[stack.length - 1];
      if (end < 0 || top === undefined) fail(i, 'a CDATA section outside an element or unterminated');
      top.text += source.slice(i + 9, end);
      i = end + 3;
    } else if (source.startsWith('<!', i)) {
      fail(i, 'a document type declaration (not accepted)');
    } else if (source.startsWith('</', i)) {
      const end = source.indexOf('>', i + 2);
      if (end < 0) fail(i, 'an unterminated end tag');
      const name = localName(source.slice(i + 2, end).trim());
      const open = stack.pop();
      if (open === undefined || open.name !== name) fail(i, `</${name}> does not close ${open === undefined ? 'any element' : `<${open.name}>`}`);
      i = end + 1;
    } else {
      const m = /^<([A-Za-z_][\w.:-]*)/.exec(source.slice(i, i + 256));
      if (m === null) fail(i, 'a "<" that starts no element');
      let j = i + m[0].length;
      // Attributes: read past them, quoted values whole (a ">" may be inside one).
      for (;;) {
        while (j < n && /\s/.test(source[j]!)) j++;
        const c = source[j];
        if (c === '>' || (c === '/' && source[j + 1] === '>')) break;
        const attr = /^[A-Za-z_][\w.:-]*\s*=\s*("[^"]*"|'[^']*')/.exec(source.slice(j, j + 4096));
        if (attr === null) fail(j, `a malformed attribute in <${m[1]}>`);
        j += attr[0].length;
      }
      const element: XmlElement = { name: localName(m[1]!), children: [], text: '' };
      const parent = stack[stack.length - 1];
      if (parent !== undefined) parent.children.push(element);
      else if (root !== undefined) fail(i, 'a second root element');
      else root = element;
      if (source[j] === '/') {
        i = j + 2;
      } else {
        if (stack.length >= MAX_DEPTH) fail(i, `elements nested deeper than ${MAX_DEPTH}`);
        stack.push(element);
        i = j + 1;
      }
    }
  }
  if (stack.length > 0) fail(n, `<${stack[stack.length - 1]!.name}> is not closed`);
  if (root === undefined) fail(0, 'no root element');
  return root;
}

/** The first child element named `name`. */
export function xmlChild(element: XmlElement | undefined, name: string): XmlElement | undefined {
  return element?.children.find((c) => c.name === name);
}

/** The text of the first child named `name`, if there is one (an empty element gives ""). */
export function xmlText(element: XmlElement | undefined, name: string): string | undefined {
  return xmlChild(element, name)?.text;
}

/** The `<item>` children of the child named `setName` (EC2's lists: `<routeTableSet><item>...`). */
export function xmlItems(element: XmlElement | undefined, setName: string): XmlElement[] {
  return xmlChild(element, setName)?.children.filter((c) => c.name === 'item') ?? [];
}
