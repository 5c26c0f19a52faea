/**
 * A client inside a lab namespace that sends requests through the VIP until stopped: one loop on
 * a new connection per request every 10 ms, two loops back to back on keep-alive connections
 * (which live across a route flip). Counts successes and failures per kind.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import type { LabHandle } from '../../src/lab/lab.js';

const CLIENT = `
import http from 'node:http';
import { existsSync } from 'node:fs';
const [url, stopFile, maxMs] = process.argv.slice(1);
const end = Date.now() + Number(maxMs);
const stop = () => existsSync(stopFile) || Date.now() > end;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const counts = { fresh: { ok: 0, failed: 0 }, keepAlive: { ok: 0, failed: 0 }, errors: [] };
function get(agent) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? null : 'status ' + res.statusCode));
      res.on('error', (e) => resolve(String(e.code || e)));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(String(e.code || e.message)));
  });
}
async function loop(kind, agent, gapMs) {
  while (!stop()) {
    const err = await get(agent);
    if (err === null) counts[kind].ok++; else { counts[kind].failed++; if (counts.errors.length < 20) counts.errors.push(kind + ': ' + err + ' at ' + Date.now()); }
    if (gapMs > 0) await sleep(gapMs);
  }
}
const keep = new http.Agent({ keepAlive: true, maxSockets: 4 });
await Promise.all([loop('fresh', false, 10), loop('keepAlive', keep, 0), loop('keepAlive', keep, 0)]);
process.stdout.write(JSON.stringify(counts));
process.exit(0);
`;

export interface VipClientCounts {
  readonly fresh: { readonly ok: number; readonly failed: number };
  readonly keepAlive: { readonly ok: number; readonly failed: number };
  readonly errors: readonly string[];
}

/**
 * Starts the client in `namespaceNode` (a lab instance name, or `internet`); it stops by itself
 * after `maxMs`. It sends to the VIP, or to `host` (from the internet: the Elastic IP).
 */
export function startVipClient(t: TestContext, lab: LabHandle, namespaceNode: string, options: { readonly maxMs: number; readonly host?: string }): { stop(): Promise<VipClientCounts> } {
  const stopFile = join(dirname(lab.stateFile), `vip-client-${process.pid}-${Date.now()}.stop`);
  const run = lab.exec(namespaceNode, [process.execPath, '--input-type=module', '-e', CLIENT, `http://${options.host ?? lab.plan.vip}/`, stopFile, String(options.maxMs)], {
    signal: AbortSignal.timeout(options.maxMs + 30_000), timeoutMs: options.maxMs + 20_000,
  });
  t.after(() => writeFile(stopFile, 'stop').catch(() => undefined));
  return {
    async stop() {
      await writeFile(stopFile, 'stop');
      return JSON.parse((await run).stdout) as VipClientCounts;
    },
  };
}
