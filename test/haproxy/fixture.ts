/**
 * Test fixture: a temp dir, a small master-worker haproxy.cfg written by hand (no renderer), a real
 * haproxy started with our supervisor, and HTTP helpers that send requests through it.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Agent } from 'node:http';
import type { TestContext } from 'node:test';
import { startHaproxy, type HaproxyProcess } from '../../src/haproxy/process.js';
import { haproxyPaths } from '../../src/haproxy/config-writer.js';
import { findFreePort } from '../helpers/haproxy-process.js';

export interface Fixture {
  readonly dir: string;
  readonly port: number;
  readonly runtimeSocket: string;
  readonly masterSocket: string;
  readonly pidFile: string;
  readonly configPath: string;
  readonly mapDir: string;
}

/** A temp dir (removed in t.after) and a free frontend port. */
export async function makeFixture(t: TestContext, signal: AbortSignal): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'olb-haproxy-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const paths = haproxyPaths(dir);
  await mkdir(paths.mapDir, { recursive: true });
  return {
    dir,
    port: await findFreePort({ host: '127.0.0.1', signal }),
    runtimeSocket: join(dir, 'haproxy.sock'),
    masterSocket: join(dir, 'master.sock'),
    pidFile: join(dir, 'haproxy.pid'),
    configPath: paths.config,
    mapDir: paths.mapDir,
  };
}

/**
 * A config with one frontend routing on the `x-route` header through `routes.map` (default
 * backend `app`), backend `app` with server s1 and a disabled spare slot, backend `other`.
 */
export function renderTestConfig(f: Fixture, opts: { readonly s1Port: number; readonly otherPort: number; readonly extra?: string; readonly extraBind?: number }): string {
  return `global
  stats socket ${f.runtimeSocket} mode 600 level admin
  hard-stop-after 30s
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  option idle-close-on-response
frontend fe
  bind 127.0.0.1:${f.port}
${opts.extraBind === undefined ? '' : `  bind 127.0.0.1:${opts.extraBind}\n`}  use_backend %[req.hdr(x-route),map(${f.mapDir}/routes.map)] if { req.hdr(x-route),map(${f.mapDir}/routes.map) -m found }
  default_backend app
backend app
  balance roundrobin
  server s1 127.0.0.1:${opts.s1Port}
  server spare1 127.0.0.1:1 disabled
backend other
  server o1 127.0.0.1:${opts.otherPort}
${opts.extra ?? ''}`;
}

/** Writes config and an empty routes.map, starts haproxy, stops it by PID in t.after. */
export async function startFixtureHaproxy(t: TestContext, f: Fixture, config: string, signal: AbortSignal): Promise<HaproxyProcess> {
  await writeFile(f.configPath, config);
  await writeFile(join(f.mapDir, 'routes.map'), '');
  const proc = await startHaproxy({ configPath: f.configPath, masterSocket: f.masterSocket, pidFile: f.pidFile, signal });
  t.after(async () => {
    await proc.stop({ signal: AbortSignal.timeout(20_000), graceMs: 0, termGraceMs: 5000 });
  });
  return proc;
}

export interface Reply {
  readonly status: number;
  readonly body: string;
}

/** One GET through the proxy. `agent: false` closes the connection after the request. */
export async function get(port: number, options: { readonly signal: AbortSignal; readonly headers?: Record<string, string>; readonly agent?: Agent | false; readonly path?: string }): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: options.path ?? '/', headers: options.headers ?? {}, agent: options.agent ?? false, signal: options.signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `n` requests and counts the bodies (which backend answered). */
export async function tally(port: number, n: number, options: { readonly signal: AbortSignal; readonly headers?: Record<string, string> }): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await get(port, options);
    const key = r.status === 200 ? r.body : `HTTP ${r.status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
