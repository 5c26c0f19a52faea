/**
 * The alert rules and the Grafana dashboard in packaging/: the rules pass `promtool check rules`
 * and their unit tests (`promtool test rules`: each alert fires on the series that should make it
 * fire, not before), and every overlay-lb metric they use is one the agent exposes (docs/metrics.md,
 * which test/agent/observability.test.ts holds equal to a live scrape).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCommand } from '../../src/util/exec.js';
import { parseMetricsDoc } from '../helpers/metrics-doc.js';

const DIR = join(process.cwd(), 'packaging/prometheus');
const RULES = join(DIR, 'overlay-lb.rules.yml');
const DASHBOARD = join(process.cwd(), 'packaging/grafana/overlay-lb.json');

/** The alerts the issue asks for, each with its rule name. */
const REQUIRED_ALERTS = ['OverlayLbNoMaster', 'OverlayLbTwoMasters', 'OverlayLbNodeUnhealthy', 'OverlayLbClaimFailures', 'OverlayLbCloudApiThrottled', 'OverlayLbDiscoveryStale', 'OverlayLbReloadFailed', 'OverlayLbSpecMismatch'];

/** Metric names in a PromQL text (`overlay_lb_*`), histogram series mapped to their family. */
function metricNames(promql: string): string[] {
  return [...promql.matchAll(/\boverlay_lb_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

async function documented(): Promise<Map<string, string>> {
  return parseMetricsDoc(await readFile(join(process.cwd(), 'docs/metrics.md'), 'utf8'));
}

void test('promtool check rules accepts the alert rules', async () => {
  const r = await runCommand(['promtool', 'check', 'rules', RULES], { signal: AbortSignal.timeout(60_000) });
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
});

void test('promtool test rules: every alert fires when it should and not before', async () => {
  const r = await runCommand(['promtool', 'test', 'rules', 'overlay-lb.rules.test.yml'], { signal: AbortSignal.timeout(60_000), cwd: DIR });
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /SUCCESS/);
  // Every required alert has a test where it fires.
  const tests = await readFile(join(DIR, 'overlay-lb.rules.test.yml'), 'utf8');
  const rules = await readFile(RULES, 'utf8');
  for (const name of REQUIRED_ALERTS) {
    assert.match(rules, new RegExp(`- alert: ${name}\\n`), `rule ${name}`);
    assert.match(tests, new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `a firing test of ${name}`);
  }
  for (const m of rules.matchAll(/- alert: (\w+)/g)) assert.match(tests, new RegExp(`alertname: ${m[1]}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `a firing test of ${m[1]}`);
});

void test('the rules and the dashboard use only metrics the agent exposes', async () => {
  const docs = await documented();
  const rules = await readFile(RULES, 'utf8');
  const exprs = [...rules.matchAll(/^\s+expr: (.*)$/gm)].map((m) => m[1] ?? '');
  assert.ok(exprs.length >= REQUIRED_ALERTS.length);
  for (const name of exprs.flatMap(metricNames)) assert.ok(docs.has(name), `the rules use ${name}, which docs/metrics.md does not list`);

  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { uid: string; panels: { type: string; title: string; targets?: { expr: string }[] }[]; templating: { list: { name: string; query: unknown }[] } };
  assert.equal(dashboard.uid, 'overlay-lb');
  const queries = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.map((v) => JSON.stringify(v.query)),
  ];
  const used = new Set(queries.flatMap(metricNames));
  for (const name of used) assert.ok(docs.has(name), `the dashboard uses ${name}, which docs/metrics.md does not list`);
  // The metrics an operator looks at first each have a panel.
  for (const name of ['overlay_lb_vrrp_state', 'overlay_lb_node_healthy', 'overlay_lb_claims_total', 'overlay_lb_spec_info', 'overlay_lb_process_resident_memory_bytes', 'overlay_lb_eventloop_lag_max_seconds', 'overlay_lb_recheck_last_success_timestamp_seconds']) {
    assert.ok(used.has(name), `no panel shows ${name}`);
  }
  for (const p of dashboard.panels.filter((x) => x.type !== 'row')) assert.ok((p.targets ?? []).length > 0, `panel ${p.title} has no query`);
});

void test('every dashboard query is valid PromQL (checked by promtool as recording rules)', async (t) => {
  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
  // Grafana's variables, as Grafana substitutes them.
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr.replaceAll('$__rate_interval', '1m').replace(/\$(job|instance|cluster)\b/g, '.*')));
  const dir = await mkdtemp(join(tmpdir(), 'olb-dash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'dashboard.rules.yml');
  await writeFile(file, `groups:\n  - name: dashboard\n    rules:\n${exprs.map((e, i) => `      - record: dashboard_query_${i}\n        expr: ${JSON.stringify(e)}\n`).join('')}`);
  const r = await runCommand(['promtool', 'check', 'rules', file], { signal: AbortSignal.timeout(60_000) });
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`));
});
