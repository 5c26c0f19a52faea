/** IPv4 address and CIDR helpers for the lab's cloud model (pure). */

/** The address as an unsigned 32-bit number, or undefined when it is not dotted-quad IPv4. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

/** Dotted-quad text of an unsigned 32-bit address. */
export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

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
