/**
 * A real etcd (Debian's etcd-server, /usr/bin/etcd) for tests: one member on 127.0.0.1 free
 * ports, data in a temp dir, stopped by PID. `restart()` reuses the same ports and data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { findFreePort } from './haproxy-process.js';

export interface EtcdServer {
  readonly clientUrl: string;
  put(key: string, value: string): Promise<void>;
  del(key: string): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Start again on the same ports and data dir; waits until it answers. */
  start(): Promise<void>;
  output(): string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Starts etcd in `dir`; put `kill()` in t.after. */
export async function startEtcd(options: { readonly dir: string; readonly signal: AbortSignal; readonly binary?: string }): Promise<EtcdServer> {
  const clientPort = await findFreePort({ host: '127.0.0.1', signal: options.signal });
  const peerPort = await findFreePort({ host: '127.0.0.1', signal: options.signal });
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;
  let out = '';
  const post = async (path: string, body: unknown): Promise<void> => {
    const res = await fetch(`${clientUrl}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  };
  const start = async (): Promise<void> => {
    const c = spawn(options.binary ?? '/usr/bin/etcd', [
      '--name', 'olb-test', '--data-dir', `${options.dir}/etcd-data`,
      '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `olb-test=${peerUrl}`, '--initial-cluster-state', 'new',
      '--log-level', 'warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    const append = (b: Buffer): void => {
      if (out.length < 64 * 1024) out += b.toString('utf8');
    };
    c.stdout?.on('data', append);
    c.stderr?.on('data', append);
    for (let i = 0; i < 200; i++) {
      if (c.exitCode !== null) throw new Error(`etcd exited with ${c.exitCode}: ${out}`);
      try {
        await post('/v3/kv/range', { key: b64('probe') });
        return;
      } catch {
        await sleep(50);
      }
    }
    await kill();
    throw new Error(`etcd did not answer within 10 s: ${out}`);
  };
  await start();
  return {
    clientUrl,
    put: (key, value) => post('/v3/kv/put', { key: b64(key), value: b64(value) }),
    del: (key) => post('/v3/kv/deleterange', { key: b64(key) }),
    kill,
    start,
    output: () => out,
  };
}
