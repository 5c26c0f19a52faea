/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges and histograms
 * with labels. One registry per agent, passed down; no global state.
 */
import { SystemError } from './errors.js';
import { compareCodeUnits } from './compare.js';

type Labels = Readonly<Record<string, string>>;

interface Series { labels: Labels; value: number }
interface HistogramSeries { labels: Labels; buckets: number[]; sum: number; count: number }

const labelKey = (l: Labels): string => JSON.stringify(Object.entries(l).sort(([a], [b]) => compareCodeUnits(a, b)));
const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const formatLabels = (l: Labels, extra?: [string, string]): string => {
  const entries = Object.entries(l).sort(([a], [b]) => compareCodeUnits(a, b));
  if (extra) entries.push(extra);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
};

export class Counter {
  readonly #series = new Map<string, Series>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    const s = this.#series.get(k) ?? { labels, value: 0 };
    s.value += by;
    this.#series.set(k, s);
  }
  /**
   * Sets the total of a count kept elsewhere (the kernel's CPU time of this process). Only for
   * such mirrors: the value must never go down while the process lives.
   */
  setTotal(labels: Labels, value: number): void {
    this.#series.set(labelKey(labels), { labels, value });
  }
  get(labels: Labels = {}): number {
    return this.#series.get(labelKey(labels))?.value ?? 0;
  }
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...[...this.#series.values()].map((s) => `${this.name}${formatLabels(s.labels)} ${s.value}`)].join('\n');
  }
}

export class Gauge {
  readonly #series = new Map<string, Series>();
  constructor(readonly name: string, readonly help: string) {}
  set(labels: Labels, value: number): void {
    this.#series.set(labelKey(labels), { labels, value });
  }
  get(labels: Labels = {}): number | undefined {
    return this.#series.get(labelKey(labels))?.value;
  }
  /** Drops every series (an info gauge whose labels changed: the old series must disappear). */
  clear(): void {
    this.#series.clear();
  }
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, ...[...this.#series.values()].map((s) => `${this.name}${formatLabels(s.labels)} ${s.value}`)].join('\n');
  }
}

export class Histogram {
  readonly #series = new Map<string, HistogramSeries>();
  constructor(readonly name: string, readonly help: string, readonly bounds: readonly number[]) {}
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    const s = this.#series.get(k) ?? { labels, buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
    this.bounds.forEach((b, i) => { if (value <= b) s.buckets[i]! += 1; });
    s.sum += value;
    s.count += 1;
    this.#series.set(k, s);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) {
      this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket${formatLabels(s.labels, ['le', String(b)])} ${s.buckets[i]}`));
      lines.push(`${this.name}_bucket${formatLabels(s.labels, ['le', '+Inf'])} ${s.count}`);
      lines.push(`${this.name}_sum${formatLabels(s.labels)} ${s.sum}`, `${this.name}_count${formatLabels(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Registry {
  readonly #metrics: (Counter | Gauge | Histogram)[] = [];
  readonly #collectors: (() => void)[] = [];
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.#add(new Gauge(name, help));
  }
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, bounds));
  }
  /**
   * Runs `fn` before every render: gauges of things that change without an event (ages, memory,
   * open files) are read at scrape time, so they are never stale between events.
   */
  collect(fn: () => void): void {
    this.#collectors.push(fn);
  }
  /** The names of every registered metric (docs/metrics.md lists each one). */
  names(): string[] {
    return this.#metrics.map((m) => m.name);
  }
  render(): string {
    for (const fn of this.#collectors) fn();
    return `${this.#metrics.map((m) => m.render()).join('\n')}\n`;
  }
  #add<T extends Counter | Gauge | Histogram>(m: T): T {
    if (this.#metrics.some((x) => x.name === m.name)) throw new SystemError('INTERNAL', `metric ${m.name} is registered twice`);
    this.#metrics.push(m);
    return m;
  }
}
