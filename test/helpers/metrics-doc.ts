/**
 * Reads docs/metrics.md's tables (`| \`name\` | type | labels | meaning |`) and a scrape's metric
 * names, so tests can hold the two equal.
 */

/** Metric name -> type, from every table row of docs/metrics.md whose first cell is a code name. */
export function parseMetricsDoc(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of markdown.split('\n')) {
    const m = /^\| `([a-z_:][a-z0-9_:]*)` \| (counter|gauge|histogram|summary) \|/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[1], m[2]);
  }
  return out;
}

/** The metric family names of a Prometheus text scrape (its `# TYPE` lines), in order. */
export function scrapeNames(text: string): string[] {
  return text.split('\n').flatMap((l) => {
    const m = /^# TYPE (\S+) \S+$/.exec(l);
    return m?.[1] === undefined ? [] : [m[1]];
  });
}
