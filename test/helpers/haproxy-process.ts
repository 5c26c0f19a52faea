/**
 * Start a real haproxy for a test, in master-worker mode (`-W -S <dir>/master.sock,mode,600 -f <cfg>`),
 * wait until its listener answers on loopback, and stop it by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HaproxyProcess {
  readonly pid: number;
  readonly masterSocket: string;
  /** What haproxy wrote on stdout and stderr so far (bounded), for failure messages. */
  output(): string;
  /** SIGTERM, wait for exit (SIGKILL after `graceMs`). Safe to call twice. */
  stop(options?: { readonly graceMs?: number }): Promise<void>;
}

export interface StartHaproxyOptions {
  /** Path of the config file to run. */
  readonly configPath: string;
  /** Directory for the master socket (a test temp dir). */
  readonly dir: string;
  /** A loopback address and port the config binds: ready once a TCP connection there succeeds. */
  readonly probe: { readonly host: string; readonly port: number };
  /** @default 10000 */
  readonly readyTimeoutMs?: number;
  readonly signal: AbortSignal;
  /** @default "haproxy" */
  readonly binary?: string;
}

const MAX_OUTPUT = 64 * 1024;

/** An ephemeral TCP port free on `host` at the time of the call (tiny race: fine for tests). */
/**
 * Ports handed out by this process: the kernel may hand the same ephemeral port to two
 * consecutive `listen(0)` calls once the first is closed, and a test that asks for several ports
 * (frontend, stats, health...) must get distinct ones. Test-helper state, on purpose per process.
 */
const handedOut = new Set<number>();

export async function findFreePort(options: { readonly host: string; readonly signal: AbortSignal }): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const server = createServer();
    server.listen({ host: options.host, port: 0, signal: options.signal });
    await once(server, 'listening', { signal: options.signal });
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!handedOut.has(port) || attempt >= 20) {
      handedOut.add(port);
      return port;
    }
  }
}

async function canConnect(host: string, port: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, signal });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Start haproxy and wait until it serves on `probe`. Put `stop()` in t.after. */
export async function startHaproxy(options: StartHaproxyOptions): Promise<HaproxyProcess> {
  const masterSocket = join(options.dir, 'master.sock');
  const child: ChildProcess = spawn(options.binary ?? 'haproxy', ['-W', '-S', `${masterSocket},mode,600`, '-f', options.configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer): void => {
    if (output.length < MAX_OUTPUT) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const pid = child.pid;
  if (pid === undefined) throw await spawnError;

  const stop = async (stopOptions: { readonly graceMs?: number } = {}): Promise<void> => {
    if (exited !== undefined) return;
    process.kill(pid, 'SIGTERM');
    // Cancel the grace timer once haproxy exits, or it would hold the event loop open.
    const graceAbort = new AbortController();
    const grace = sleep(stopOptions.graceMs ?? 5000, 'timeout' as const, { signal: graceAbort.signal }).catch(() => 'cancelled' as const);
    const first = await Promise.race([exitPromise.then(() => 'exited' as const), grace]);
    graceAbort.abort();
    if (first === 'timeout' && exited === undefined) {
      process.kill(pid, 'SIGKILL');
      await exitPromise;
    }
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 10000);
  try {
    for (;;) {
      options.signal.throwIfAborted();
      if (exited !== undefined) {
        throw new Error(`haproxy exited before serving (code ${String(exited.code)}, signal ${String(exited.signal)}):\n${output}`);
      }
      if (await canConnect(options.probe.host, options.probe.port, options.signal)) break;
      if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${options.probe.host}:${options.probe.port} within ${options.readyTimeoutMs ?? 10000} ms:\n${output}`);
      await sleep(25, undefined, { signal: options.signal });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid, masterSocket, output: () => output, stop };
}
