/**
 * wrk that runs until told to stop: started in the background, stopped with SIGINT (wrk then
 * prints its summary as after a normal run), parsed with `parseWrk`. Loopback targets only.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseWrk, type WrkResult } from './wrk.js';

export interface RunningWrk {
  /** Stops wrk and returns its summary. */
  stop(): Promise<WrkResult & { readonly raw: string }>;
}

export function startWrk(options: { readonly url: string; readonly connections: number; readonly threads: number; readonly maxSeconds: number }): RunningWrk {
  const host = new URL(options.url).hostname;
  if (!/^127\.\d+\.\d+\.\d+$/.test(host)) throw new Error(`startWrk: only loopback targets are allowed, got ${host}`);
  const child = spawn('wrk', ['--latency', '-t', String(options.threads), '-c', String(options.connections), '-d', `${options.maxSeconds}s`, options.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = once(child, 'exit');
  return {
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
      return { ...parseWrk(out), raw: out };
    },
  };
}
