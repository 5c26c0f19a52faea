/**
 * Network namespace sandboxes for tests: namespaces, veth pairs, commands and long-running
 * processes inside them, and a cleanup that always runs.
 *
 * Every namespace name starts with a prefix unique to this test process and sandbox
 * (`olbt<pid>-<hex>-`), so a test never touches anything it did not create. Veth ends are
 * created directly inside their namespaces (never in the host namespace), so their names
 * (`eth0`...) need no prefix. Processes started with `spawn` are killed by PID in `cleanup`.
 *
 * Usage:
 * ```ts
 * const sb = createSandbox();
 * t.after(() => sb.cleanup());
 * const a = await sb.addNamespace('a', { signal });
 * ```
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2 (`ip`).
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Result of a command run to completion. */
export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  readonly signal: AbortSignal;
  /** Throw when the command exits non-zero. @default true */
  readonly check?: boolean;
  /** Data written to stdin. */
  readonly input?: string;
}

/** One end of a veth pair. */
export interface VethEnd {
  /** Full namespace name (as returned by `addNamespace`). */
  readonly ns: string;
  readonly ifname: string;
  /** Address with prefix length, e.g. `10.0.1.10/24`. Omit to leave the end unaddressed. */
  readonly address?: string;
}

/** A process started in a namespace; killed by PID in `cleanup` if still running. */
export interface SandboxProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved, for failure messages. */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Writes to its stdin (spawned with `{ stdin: true }`). */
  write(text: string): void;
}

export interface Sandbox {
  /** `olbt<pid>-<hex>-`: every namespace of this sandbox starts with it. */
  readonly prefix: string;
  /** Creates namespace `<prefix><short>` with `lo` up; returns its full name. */
  addNamespace(short: string, options: { signal: AbortSignal }): Promise<string>;
  /** Creates a veth pair between two namespaces of this sandbox, addresses them and sets them up. */
  addVeth(a: VethEnd, b: VethEnd, options: { signal: AbortSignal }): Promise<void>;
  /** Runs `argv` in namespace `ns` (through `ip netns exec`) to completion. */
  exec(ns: string, argv: readonly string[], options: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running process in `ns`; its PID is the program's (ip execs it). Its stdin is a pipe with `stdin: true`. */
  spawn(ns: string, argv: readonly string[], options?: { readonly stdin?: boolean }): SandboxProcess;
  /** Kills this sandbox's live processes by PID (TERM, then KILL), deletes its namespaces. Never throws. */
  cleanup(): Promise<void>;
}

/** Runs a host command to completion (no shell). */
export function run(argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('run: empty argv');
  return new Promise((resolve, reject) => {
    const input = options.input;
    const child = spawnChild(cmd, args, { signal: options.signal, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const result = { code, signal, stdout, stderr };
      if ((options.check ?? true) && code !== 0) {
        reject(new Error(`${argv.join(' ')} failed (code ${code}, signal ${signal}): ${stderr.trim()}`));
      } else resolve(result);
    });
    if (input !== undefined && child.stdin !== null) {
      // A command that exits without reading its input must not crash the test with EPIPE.
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });
}

/** Creates an empty sandbox. Call `cleanup` in `t.after` / `finally`. */
export function createSandbox(): Sandbox {
  const prefix = `olbt${process.pid}-${randomBytes(2).toString('hex')}-`;
  const namespaces: string[] = [];
  const processes: SandboxProcess[] = [];

  const own = (ns: string): string => {
    if (!namespaces.includes(ns)) throw new Error(`namespace ${ns} does not belong to sandbox ${prefix}`);
    return ns;
  };

  const sandbox: Sandbox = {
    prefix,
    async addNamespace(short, { signal }) {
      if (!/^[a-z0-9-]{1,20}$/.test(short)) throw new Error(`bad namespace name ${short}`);
      const ns = `${prefix}${short}`;
      await run(['ip', 'netns', 'add', ns], { signal });
      namespaces.push(ns);
      await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up'], { signal });
      return ns;
    },
    async addVeth(a, b, { signal }) {
      own(a.ns);
      own(b.ns);
      // Both ends are born inside their namespaces: nothing appears in the host namespace.
      await run(['ip', 'link', 'add', a.ifname, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns], { signal });
      for (const end of [a, b]) {
        if (end.address !== undefined) await run(['ip', '-n', end.ns, 'addr', 'add', end.address, 'dev', end.ifname], { signal });
        await run(['ip', '-n', end.ns, 'link', 'set', end.ifname, 'up'], { signal });
      }
    },
    exec(ns, argv, options) {
      return run(['ip', 'netns', 'exec', own(ns), ...argv], options);
    },
    spawn(ns, argv, options = {}) {
      const child = spawnChild('ip', ['netns', 'exec', own(ns), ...argv], { stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
      child.stdin?.on('error', () => undefined);
      let out = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.on('exit', (code, signal) => resolve({ code, signal }));
        child.on('error', () => resolve({ code: null, signal: null }));
      });
      const proc: SandboxProcess = {
        child, exited, output: () => out,
        write: (text) => {
          if (child.stdin === null) throw new Error(`${argv.join(' ')} was spawned without stdin: pass { stdin: true }`);
          child.stdin.write(text);
        },
      };
      processes.push(proc);
      return proc;
    },
    async cleanup() {
      for (const p of processes) {
        await stopProcess(p);
      }
      for (const ns of namespaces.splice(0).reverse()) {
        // Deleting a namespace also deletes the veth ends inside it.
        await run(['ip', 'netns', 'delete', ns], { signal: AbortSignal.timeout(10_000), check: false }).catch(() => undefined);
      }
    },
  };
  return sandbox;
}

/** SIGTERM by PID, then SIGKILL after 5 s; resolves once the process has exited. */
export async function stopProcess(p: SandboxProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null || p.child.pid === undefined) return;
  const pid = p.child.pid;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 5000);
  await p.exited;
  clearTimeout(timer);
}
