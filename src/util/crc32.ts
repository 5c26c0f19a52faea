/**
 * CRC-32 as zlib computes it (polynomial 0xEDB88320), over a string's UTF-8 bytes or raw bytes.
 * Used to derive the VRRP virtual router id and by the sticky split (see src/model/spec.ts).
 */
export function crc32(input: string | Uint8Array): number {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
