/** IPv4 address and CIDR helpers for the lab's cloud model (pure). */

import { parseIpv4 } from '../../util/ipv4.js';

// One IPv4 parser for the whole project; the lab's CIDRs are stricter than the spec's (EC2
// rejects host bits), so parseCidr below stays its own.
export { formatIpv4, parseIpv4 } from '../../util/ipv4.js';

export interface ParsedCidr {
  readonly base: number;
  readonly prefix: number;
}

/** A CIDR block with no host bits set (as EC2 requires), or undefined. */
export function parseCidr(text: string): ParsedCidr | undefined {
  const [ip, prefixText, extra] = text.split('/');
  if (ip === undefined || prefixText === undefined || extra !== undefined) return undefined;
  if (!/^(0|[1-9][0-9]?)$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const base = parseIpv4(ip);
  if (base === undefined || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) return undefined;
  return { base, prefix };
}

/** Whether the address lies inside the block. */
export function cidrContains(cidr: ParsedCidr, address: number): boolean {
  const size = 2 ** (32 - cidr.prefix);
  return address >= cidr.base && address < cidr.base + size;
}

/** Whether the inner block lies wholly inside the outer block. */
export function cidrWithin(outer: ParsedCidr, inner: ParsedCidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.base);
}

/** Whether two blocks share any address. */
export function cidrOverlaps(a: ParsedCidr, b: ParsedCidr): boolean {
  return cidrWithin(a, b) || cidrWithin(b, a);
}
