/**
 * Orders strings by UTF-16 code units, as `<` does: the same on every machine and locale.
 * Not `localeCompare`, which collates with ICU: its first use maps ICU's collation data, about
 * 3 MiB of a long-running agent's memory (docs/BENCHMARKS.md, "Agent footprint"), and it is
 * slower, for keys (label and tag names) that need no language's order.
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
