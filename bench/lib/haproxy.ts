import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Starts haproxy in master-worker mode for a benchmark and waits until `port` accepts connections. */
export async function startHaproxy(options: { config: string; dir: string; port: number }): Promise<{ pid: number; stop(): Promise<void> }> {
  await mkdir(options.dir, { recursive: true });
  const child = spawn('haproxy', ['-W', '-S', `${join(options.dir, 'master.sock')},mode,600`, '-f', options.config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    if (await canConnect(options.port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not listen on ${options.port} within 15 s: ${stderr}`);
    }
    await sleep(50);
  }
  return {
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGUSR1'); // soft stop
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}
