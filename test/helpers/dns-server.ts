/**
 * A real DNS server for tests: dnsmasq (Debian's dnsmasq-base) in the foreground on 127.0.0.1 and
 * a free port, authoritative for names in a hosts file (`setHosts` rewrites it and sends SIGHUP,
 * which makes dnsmasq re-read it) plus fixed SRV records. No upstream, so unknown names fail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { findFreePort } from './haproxy-process.js';

export interface DnsServer {
  /** `127.0.0.1:port`, for Resolver#setServers. */
  readonly server: string;
  /** Replaces the hosts file (lines `ip name`) and makes dnsmasq re-read it. */
  setHosts(lines: readonly string[]): Promise<void>;
  kill(): Promise<void>;
  start(): Promise<void>;
  output(): string;
}

export interface StartDnsOptions {
  readonly dir: string;
  readonly signal: AbortSignal;
  readonly hosts: readonly string[];
  /** dnsmasq `--srv-host` values: `_svc._tcp.domain,target,port,priority,weight`. */
  readonly srv?: readonly string[];
  /** TTL of the answers, seconds. @default 1 */
  readonly ttl?: number;
}

/** Starts dnsmasq; put `kill()` in t.after. */
export async function startDnsmasq(options: StartDnsOptions): Promise<DnsServer> {
  const port = await findFreePort({ host: '127.0.0.1', signal: options.signal });
  const hostsFile = join(options.dir, 'hosts');
  await writeFile(hostsFile, `${options.hosts.join('\n')}\n`);
  let child: ChildProcess | undefined;
  let out = '';
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  };
  const start = async (): Promise<void> => {
    const c = spawn('/usr/sbin/dnsmasq', [
      '-k', '-C', '/dev/null', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
      '--no-resolv', '--no-hosts', `--addn-hosts=${hostsFile}`, `--local-ttl=${options.ttl ?? 1}`,
      '--user=root', `--pid-file=${join(options.dir, 'dnsmasq.pid')}`, '--log-facility=-',
      ...(options.srv ?? []).map((s) => `--srv-host=${s}`),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    const append = (b: Buffer): void => {
      if (out.length < 64 * 1024) out += b.toString('utf8');
    };
    c.stdout?.on('data', append);
    c.stderr?.on('data', append);
    const probe = new Resolver({ timeout: 200, tries: 1 });
    probe.setServers([`127.0.0.1:${port}`]);
    for (let i = 0; i < 100; i++) {
      if (c.exitCode !== null) throw new Error(`dnsmasq exited with ${c.exitCode}: ${out}`);
      try {
        await probe.resolve4('probe.invalid');
        return;
      } catch (err) {
        // Any DNS answer (even a refusal) proves it is listening; only a timeout means not yet.
        if ((err as NodeJS.ErrnoException).code !== 'ETIMEOUT' && (err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') return;
        await sleep(50);
      }
    }
    await kill();
    throw new Error(`dnsmasq did not answer: ${out}`);
  };
  await start();
  return {
    server: `127.0.0.1:${port}`,
    setHosts: async (lines) => {
      await writeFile(hostsFile, `${lines.join('\n')}\n`);
      child?.kill('SIGHUP');
    },
    kill,
    start,
    output: () => out,
  };
}
