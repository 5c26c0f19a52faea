/**
 * The lab's state file: what `buildLab` made (and what others started in the lab), written BEFORE
 * each resource is created, so that `destroyLab` can remove exactly those even after a crash.
 *
 * One JSON document, replaced atomically (write to a temporary file, rename). Writers in one
 * process are serialized by the `LabStateFile` instance; two processes recording at the same
 * instant could lose one record (the lab is driven by one CLI or test at a time).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabPlan } from './plan.js';
import { SystemError, UserError } from '../util/errors.js';

/** Where state files live unless told otherwise. */
export const DEFAULT_LAB_STATE_DIR = '/run/overlay-lb-lab';

export type LabResource =
  | { readonly kind: 'netns'; readonly id: string; readonly name: string }
  | {
      readonly kind: 'process';
      readonly id: string;
      /** What it is, for example `backend be-10-0-11-10`, `haproxy lb-a`. */
      readonly label: string;
      readonly namespace: string;
      readonly argv: readonly string[];
      /** Null while it is being started (recorded before the spawn). */
      readonly pid: number | null;
      /** /proc/PID/stat field 22: guards against killing a reused PID. */
      readonly startTime: string | null;
    }
  | { readonly kind: 'file'; readonly id: string; readonly path: string }
  | { readonly kind: 'dir'; readonly id: string; readonly path: string };

export interface LabState {
  readonly version: 1;
  readonly prefix: string;
  readonly createdAt: string;
  readonly plan: LabPlan;
  /** In creation order. */
  readonly resources: readonly LabResource[];
}

/** The state file path of a lab with this prefix. */
export function labStateFilePath(options: { readonly prefix: string; readonly stateDir?: string }): string {
  return join(options.stateDir ?? DEFAULT_LAB_STATE_DIR, `${options.prefix}state.json`);
}

/** Reads a state file; null when it does not exist. @throws UserError LAB_STATE_INVALID when unreadable JSON. */
export async function readLabState(path: string, options: { readonly signal: AbortSignal }): Promise<LabState | null> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', signal: options.signal });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SystemError('FILE_WRITE', `cannot read lab state file ${path}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw stateInvalid(path, 'it is not JSON', error);
  }
  const state = parsed as Partial<LabState>;
  if (state.version !== 1 || typeof state.prefix !== 'string' || !Array.isArray(state.resources) || typeof state.plan !== 'object') {
    throw stateInvalid(path, 'it lacks version 1, prefix, plan or resources');
  }
  return state as LabState;
}

function stateInvalid(path: string, why: string, cause?: unknown): UserError {
  return new UserError(
    'LAB_STATE_INVALID',
    `lab state file ${path} is unusable (${why}): remove the lab's namespaces by hand (ip netns list | grep PREFIX; ip netns del NAME) and delete the file`,
    cause === undefined ? {} : { cause },
  );
}

/** A writable state file; every method is serialized. */
export class LabStateFile {
  readonly path: string;
  #state: LabState;
  #queue: Promise<unknown> = Promise.resolve();
  #counter = 0;

  private constructor(path: string, state: LabState) {
    this.path = path;
    this.#state = state;
    this.#counter = state.resources.length;
  }

  /** Creates the state file (and its directory) for a new lab. */
  static async create(path: string, plan: LabPlan, options: { readonly signal: AbortSignal }): Promise<LabStateFile> {
    const file = new LabStateFile(path, { version: 1, prefix: plan.prefix, createdAt: new Date().toISOString(), plan, resources: [] });
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    await file.#write(options.signal);
    return file;
  }

  /** Opens an existing state file; null when none. */
  static async open(path: string, options: { readonly signal: AbortSignal }): Promise<LabStateFile | null> {
    const state = await readLabState(path, options);
    return state === null ? null : new LabStateFile(path, state);
  }

  get state(): LabState {
    return this.#state;
  }

  /** Records a resource before it is created; returns its id (for `update`). */
  async record(resource: DistributiveOmit<LabResource, 'id'>, options: { readonly signal: AbortSignal }): Promise<string> {
    const id = `r${++this.#counter}`;
    await this.#enqueue(options.signal, (s) => ({ ...s, resources: [...s.resources, { ...resource, id }] }));
    return id;
  }

  /** Updates a recorded process once it runs (pid and start time). */
  async updateProcess(id: string, fields: { readonly pid: number; readonly startTime: string | null }, options: { readonly signal: AbortSignal }): Promise<void> {
    await this.#enqueue(options.signal, (s) => ({
      ...s,
      resources: s.resources.map((r) => (r.id === id && r.kind === 'process' ? { ...r, ...fields } : r)),
    }));
  }

  async #enqueue(signal: AbortSignal, change: (s: LabState) => LabState): Promise<void> {
    const next = this.#queue.then(async () => {
      this.#state = change(this.#state);
      await this.#write(signal);
    });
    this.#queue = next.catch(() => undefined);
    await next;
  }

  async #write(signal: AbortSignal): Promise<void> {
    const tmp = `${this.path}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify(this.#state, null, 2)}\n`, { mode: 0o600, signal });
      await rename(tmp, this.path);
    } catch (error) {
      throw new SystemError('FILE_WRITE', `cannot write lab state file ${this.path}: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** Omit over each member of a union. */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
