/**
 * What the apply pipeline keeps next to haproxy.cfg so that a restart (of the agent, or an
 * `overlay-lb apply` run) plans from what haproxy really runs:
 * - `applied-state.json`: the applied `HaproxyState` and the discovery membership it was computed
 *   from, with a sequence number bumped on every write (a pipeline notices another writer);
 * - `apply.lock`: held (pid inside) while one apply runs, so the agent and the CLI never apply to
 *   the same haproxy at once. A lock whose pid is gone is stale and taken over.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HaproxyState } from '../plan/state.js';
import type { MemberServer } from '../plan/slots.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import type { Clock } from '../util/clock.js';
import { SystemError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { isProcessAlive } from '../util/pid.js';

export const APPLIED_STATE_FILE = 'applied-state.json';
export const APPLY_LOCK_FILE = 'apply.lock';

/** The content of `applied-state.json`. */
export interface PersistedApply {
  readonly version: 1;
  /** Bumped by every write. */
  readonly seq: number;
  /** `null` when what haproxy runs is unknown (the next apply reloads). */
  readonly state: HaproxyState | null;
  /** Backend -> discovered servers the state was computed from. */
  readonly membership: readonly (readonly [string, readonly MemberServer[]])[];
  /** Last applied discovery generation of the writer (informational). */
  readonly generation: number;
  readonly writtenAt: string;
}

/** Reads `applied-state.json`; undefined when absent or unreadable as one (then plan from nothing). */
export async function readAppliedState(runDir: string, options: { readonly signal: AbortSignal }): Promise<PersistedApply | undefined> {
  let text: string;
  try {
    text = await readFile(join(runDir, APPLIED_STATE_FILE), { encoding: 'utf8', signal: options.signal });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (options.signal.aborted) throw err;
    throw new SystemError('FILE_READ', `cannot read ${join(runDir, APPLIED_STATE_FILE)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const data = JSON.parse(text) as PersistedApply;
    if (data.version !== 1 || typeof data.seq !== 'number' || !Array.isArray(data.membership)) return undefined;
    return data;
  } catch {
    return undefined;
  }
}

/** Writes `applied-state.json` atomically. @throws SystemError FILE_WRITE */
export async function writeAppliedState(runDir: string, data: Omit<PersistedApply, 'version' | 'writtenAt'>, options: { readonly signal: AbortSignal }): Promise<void> {
  const full: PersistedApply = { version: 1, ...data, writtenAt: new Date().toISOString() };
  await writeFileAtomic(join(runDir, APPLIED_STATE_FILE), `${JSON.stringify(full)}\n`, { signal: options.signal });
}

/** The discovered servers a state holds in its spare slots (draining ones excluded). */
export function membershipFromState(state: HaproxyState): Map<string, MemberServer[]> {
  const out = new Map<string, MemberServer[]>();
  for (const b of state.backends) {
    if (!b.discovery) continue;
    out.set(b.name, b.slots.filter((s) => s.spare && s.member !== undefined && s.state === 'ready').map((s) => ({ address: s.address, port: s.port, weight: s.weight })));
  }
  return out;
}

/**
 * Compares a persisted state with `show servers state`: every slot must exist with the address,
 * port, weight and admin state the state says. A mismatch (haproxy restarted without us, a hand
 * edit) means the state is not what runs.
 *
 * @returns undefined when it matches, else why not.
 * @throws SystemError HAPROXY_RUNTIME when haproxy cannot be reached.
 */
export async function verifyAppliedState(runtime: RuntimeApi, state: HaproxyState, options: { readonly signal: AbortSignal }): Promise<string | undefined> {
  const rows = await runtime.showServersState(undefined, options);
  const byId = new Map(rows.map((r) => [`${r.backend}/${r.server}`, r]));
  for (const b of state.backends) {
    for (const s of b.slots) {
      const id = `${b.name}/${s.server}`;
      const row = byId.get(id);
      if (row === undefined) return `server ${id} is not in the running haproxy`;
      if (s.state === 'maint') {
        if (row.admin !== 'maint') return `server ${id} should be in maintenance but is ${row.admin}`;
        continue;
      }
      if (row.admin !== s.state) return `server ${id} should be ${s.state} but is ${row.admin}`;
      if (row.addr !== s.address || row.port !== s.port) return `server ${id} should be ${s.address}:${s.port} but is ${row.addr}:${row.port}`;
      if (row.weight !== s.weight) return `server ${id} should have weight ${s.weight} but has ${row.weight}`;
    }
  }
  return undefined;
}

/**
 * Runs `fn` holding the run directory's apply lock. Waits (polling every 50 ms) while another live
 * process holds it.
 *
 * @throws SystemError HAPROXY_RUNTIME when the lock is still held after `timeoutMs` (default 60 s).
 */
export async function withApplyLock<T>(runDir: string, fn: () => Promise<T>, options: { readonly signal: AbortSignal; readonly clock: Clock; readonly timeoutMs?: number }): Promise<T> {
  const path = join(runDir, APPLY_LOCK_FILE);
  const deadline = options.clock.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    options.signal.throwIfAborted();
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new SystemError('FILE_WRITE', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      // Stale (its process is gone) or half-written: take it over.
      await rm(path, { force: true });
      continue;
    }
    if (options.clock.now() > deadline) {
      throw new SystemError('HAPROXY_RUNTIME', `another apply (pid ${holder}) has held ${path} for over ${options.timeoutMs ?? 60_000} ms; wait for it to finish or, if pid ${holder} is not overlay-lb, remove the file`, { retryable: true });
    }
    await options.clock.sleep(50, options.signal);
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

function alive(pid: number): boolean {
  return pid === process.pid || isProcessAlive(pid);
}

