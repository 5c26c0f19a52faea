/**
 * The results of bench/agent-footprint.ts and their Markdown table for docs/BENCHMARKS.md
 * ("Agent footprint"): one row per variant (how the agent ran), its RSS and CPU beside the
 * keepalived and haproxy processes of the same node.
 */

/** One group of processes of one LB node, over the sampling window. */
export interface ProcessFootprint {
  readonly node: string;
  /** agent: the overlay-lb agent; keepalived: its parent and VRRP child; haproxy: master and workers. */
  readonly name: 'agent' | 'keepalived' | 'haproxy';
  /** How many processes the group had at the end, and how often its set of pids changed in the window (a haproxy reload replaces the worker). */
  readonly pids: number;
  readonly pidChanges: number;
  /** VmRSS at the end of the window, and its anonymous and file-backed parts (KiB, summed over the pids). */
  readonly rssKiB: number;
  readonly anonKiB: number;
  readonly fileKiB: number;
  readonly rssKiBMedian: number;
  readonly rssKiBMax: number;
  /** utime+stime over the window, and utime alone (the rest is the kernel's work for the process). */
  readonly cpuMs: number;
  readonly userCpuMs: number;
  /** cpuMs in % of the window (one core = 100%). */
  readonly cpuPercent: number;
  /** The agent's V8 heap in use at the end (its /metrics), when it answered. */
  readonly heapUsedBytes?: number | null;
  /** The agent's RSS by mapping at the end (KiB): executable, other files, brk heap, anonymous, other. */
  readonly residentKiBByMapping?: Readonly<Record<string, number>> | null;
}

export interface VariantResult {
  readonly label: string;
  /** The executable the LB nodes ran as the agent (or this build). */
  readonly agent: string;
  /** Its `--version` line, or the commit of the dist build. */
  readonly version: string;
  readonly date: string;
  readonly node: string;
  readonly cpus: number;
  readonly seconds: number;
  readonly settleSeconds: number;
  /** The 1-minute load average at the start and at the end. */
  readonly loadAverage: readonly [number, number];
  /** master/backup by node name (the preferred node holds the routes). */
  readonly roles: Readonly<Record<string, string>>;
  /**
   * `dropped`: the executable's page cache was dropped before the lab started (`--cold`), so its
   * pages came from disk as after a boot; absent: as found (a file just written, e.g. by postject
   * or an extraction, may sit in the cache in large folios, which this kernel maps whole: more
   * file-backed RSS for the same program).
   */
  readonly executableCache?: 'dropped';
  readonly processes: readonly ProcessFootprint[];
}

export interface FootprintResults {
  variants: Record<string, VariantResult>;
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

/** One row per variant and node: RSS (MiB) and CPU (% of one core) of the agent, keepalived and haproxy. */
export function footprintTable(results: FootprintResults): string {
  const lines = [
    '| variant | node | agent RSS MiB (anon + file) | agent CPU (user + system) | agent V8 heap used | keepalived RSS / CPU | haproxy RSS / CPU | load avg start -> end |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const v of Object.values(results.variants)) {
    for (const node of Object.keys(v.roles)) {
      const p = (name: ProcessFootprint['name']): ProcessFootprint | undefined => v.processes.find((x) => x.node === node && x.name === name);
      const agent = p('agent');
      const ka = p('keepalived');
      const ha = p('haproxy');
      if (agent === undefined || ka === undefined || ha === undefined) continue;
      const heap = agent.heapUsedBytes === undefined || agent.heapUsedBytes === null ? '?' : `${(agent.heapUsedBytes / 1048576).toFixed(1)} MiB`;
      lines.push(`| ${v.label}${v.executableCache === 'dropped' ? ' (cold)' : ''} | ${node} (${v.roles[node]}) | ${mib(agent.rssKiB)} (${mib(agent.anonKiB)} + ${mib(agent.fileKiB)}) | ${agent.cpuPercent.toFixed(2)}% (${((agent.cpuPercent * agent.userCpuMs) / Math.max(1, agent.cpuMs)).toFixed(2)} + ${((agent.cpuPercent * (agent.cpuMs - agent.userCpuMs)) / Math.max(1, agent.cpuMs)).toFixed(2)}) | ${heap} | ` +
        `${mib(ka.rssKiB)} MiB / ${ka.cpuPercent.toFixed(2)}% | ${mib(ha.rssKiB)} MiB / ${ha.cpuPercent.toFixed(2)}% | ${v.loadAverage[0].toFixed(1)} -> ${v.loadAverage[1].toFixed(1)} |`);
    }
  }
  return lines.join('\n');
}

/** Bars of the plot: the agent's RSS per variant on the master node, then keepalived and haproxy (from the last variant). */
export function footprintRssBars(results: FootprintResults): { label: string; value: number; note?: string }[] {
  const bars: { label: string; value: number; note?: string }[] = [];
  let last: VariantResult | undefined;
  for (const v of Object.values(results.variants)) {
    const master = Object.keys(v.roles).find((n) => v.roles[n] === 'master');
    const agent = v.processes.find((p) => p.node === master && p.name === 'agent');
    if (agent === undefined) continue;
    bars.push({ label: `agent: ${v.label}`, value: Math.round(agent.rssKiB / 102.4) / 10, note: `${(agent.anonKiB / 1024).toFixed(0)} anon + ${(agent.fileKiB / 1024).toFixed(0)} file` });
    last = v;
  }
  if (last !== undefined) {
    const master = Object.keys(last.roles).find((n) => last.roles[n] === 'master');
    for (const name of ['keepalived', 'haproxy'] as const) {
      const p = last.processes.find((x) => x.node === master && x.name === name);
      if (p !== undefined) bars.push({ label: name, value: Math.round(p.rssKiB / 102.4) / 10 });
    }
  }
  return bars;
}

/** Where the agent's RSS is on each variant's master node (/proc/PID/smaps), in MiB. */
export function footprintMappingTable(results: FootprintResults): string {
  const kinds = ['executable', 'other files', 'brk heap', 'anonymous', 'other'];
  const lines = [`| variant | ${kinds.join(' | ')} | of which V8 heap in use |`, `|---|${kinds.map(() => '---|').join('')}---|`];
  for (const v of Object.values(results.variants)) {
    const master = Object.keys(v.roles).find((n) => v.roles[n] === 'master');
    const agent = v.processes.find((p) => p.node === master && p.name === 'agent');
    const m = agent?.residentKiBByMapping;
    if (agent === undefined || m === undefined || m === null) continue;
    const heap = agent.heapUsedBytes === undefined || agent.heapUsedBytes === null ? '?' : (agent.heapUsedBytes / 1048576).toFixed(1);
    lines.push(`| ${v.label} | ${kinds.map((k) => mib(m[k] ?? 0)).join(' | ')} | ${heap} |`);
  }
  return lines.join('\n');
}
