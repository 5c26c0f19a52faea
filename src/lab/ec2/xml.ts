/**
 * The EC2 Query protocol's response side (pure): XML in the 2016-11-15 namespace, as the AWS SDK
 * and the CLI parse it. A response is `<ActionResponse xmlns=...><requestId/>...`, an error is
 * `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
 */

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** An element's content: text, nested elements, or nothing (the element is left out). */
export type XmlValue = string | number | boolean | XmlNode | readonly XmlValue[] | null | undefined;
export interface XmlNode { readonly [name: string]: XmlValue }

/** Escape text for element content. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const XML_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The text of element content in a request body: the five named entities and numeric references resolved. */
export function unescapeXml(text: string): string {
  return text.replace(/&(?:(amp|lt|gt|quot|apos)|#x([0-9a-fA-F]+)|#([0-9]+));/g, (_, name: string | undefined, hex: string | undefined, dec: string | undefined) =>
    (name !== undefined ? XML_ENTITIES[name] ?? '' : String.fromCodePoint(hex !== undefined ? Number.parseInt(hex, 16) : Number(dec))));
}

/** A list of items: `<name><item>..</item>..</name>`, EC2's shape for every set. */
export function itemSet(items: readonly XmlNode[]): XmlNode {
  return { item: items };
}

/** `<tagSet>` content from a tag record. */
export function tagSet(tags: Readonly<Record<string, string>>): XmlNode {
  return itemSet(Object.entries(tags).map(([key, value]) => ({ key, value })));
}

function render(name: string, value: XmlValue): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return (value as readonly XmlValue[]).map((v) => render(name, v)).join('');
  if (typeof value === 'object') return `<${name}>${renderChildren(value as XmlNode)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** The elements of a node, without a root (for lists that interleave element names). */
export function renderChildren(node: XmlNode): string {
  return Object.entries(node).map(([k, v]) => render(k, v)).join('');
}

/** A successful response document. */
export function responseXml(action: string, requestId: string, body: XmlNode): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_XMLNS}"><requestId>${requestId}</requestId>${renderChildren(body)}</${action}Response>`;
}

/** An error response document. */
export function errorXml(code: string, message: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
}

/**
 * A Query-protocol response of the services other than EC2 (IAM, STS):
 * `<ActionResponse xmlns><ActionResult>..</ActionResult><ResponseMetadata><RequestId/>..`; actions
 * without output have no Result element. https://docs.aws.amazon.com/IAM/latest/APIReference/
 */
export function queryResponseXml(options: { action: string; xmlns: string; requestId: string; result: XmlNode | null }): string {
  const { action, requestId, result } = options;
  const body = result === null ? '' : `<${action}Result>${renderChildren(result)}</${action}Result>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${options.xmlns}">${body}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

/** A Query-protocol error of IAM or STS: `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`. */
export function queryErrorXml(options: { xmlns: string; code: string; message: string; status: number; requestId: string }): string {
  const type = options.status >= 500 ? 'Receiver' : 'Sender';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${options.xmlns}"><Error><Type>${type}</Type><Code>${escapeXml(options.code)}</Code><Message>${escapeXml(options.message)}</Message></Error><RequestId>${options.requestId}</RequestId></ErrorResponse>`;
}

/** A REST-XML document (S3): `<?xml?><root xmlns>children</root>`. */
export function xmlDocument(options: { root: string; xmlns?: string; body: XmlNode }): string {
  const ns = options.xmlns === undefined ? '' : ` xmlns="${options.xmlns}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${options.root}${ns}>${renderChildren(options.body)}</${options.root}>`;
}
