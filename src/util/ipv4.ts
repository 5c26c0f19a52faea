/** IPv4 address and CIDR helpers for the spec layer (pure). */

/** The 32-bit value of a dotted quad, or undefined when `text` is not one (no leading zeros). */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

/** Dotted quad of a 32-bit value. */
export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(value / 2 ** s) % 256).join('.');
}

export interface ParsedCidr {
  readonly network: number;
  readonly length: number;
  /** Canonical `a.b.c.d/len` with the host bits zeroed. */
  readonly canonical: string;
}

/** Parses `a.b.c.d/len` (or a bare address, meaning /32) and zeroes the host bits. */
export function parseCidr(text: string): ParsedCidr | undefined {
  const m = /^([0-9.]+)(?:\/([0-9]{1,2}))?$/.exec(text);
  if (m === null) return undefined;
  const addr = parseIpv4(m[1] ?? '');
  const length = m[2] === undefined ? 32 : Number(m[2]);
  if (addr === undefined || length > 32) return undefined;
  const size = 2 ** (32 - length);
  const network = Math.floor(addr / size) * size;
  return { network, length, canonical: `${formatIpv4(network)}/${length}` };
}

/** True when the address lies inside the network. */
export function cidrContains(cidr: ParsedCidr, address: number): boolean {
  const size = 2 ** (32 - cidr.length);
  return address >= cidr.network && address < cidr.network + size;
}
