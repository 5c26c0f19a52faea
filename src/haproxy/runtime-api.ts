/**
 * Client for the HAProxy 2.6 Runtime API (the `stats socket ... level admin` of a worker).
 *
 * Every command is built from validated tokens (see `assertCliToken`) and sent on its own
 * connection (see socket.ts for why). HAProxy answers refusals as plain text with the same framing
 * as success ("No such server.", "Key not found.", "Invalid addr ..."), so each method knows what
 * its success answer looks like and turns anything else into a `HaproxyRuntimeError`.
 *
 * Reference: https://docs.haproxy.org/2.6/management.html#9.3
 */
import { isIP } from 'node:net';
import { SystemError, UserError } from '../util/errors.js';
import { assertCliToken, sendSocketCommand } from './socket.js';

/** A command HAProxy refused (or could not be sent); `answer` is HAProxy's text. */
export class HaproxyRuntimeError extends SystemError {
  readonly command: string;
  readonly answer: string;
  constructor(command: string, answer: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    const text = answer === '' ? 'haproxy closed the connection without an answer (command or payload larger than its buffer?)' : answer.trim();
    super('HAPROXY_RUNTIME', `haproxy refused "${command.split('\n', 1)[0] ?? ''}": ${text}`, {
      retryable: options.retryable ?? false,
      cause: options.cause,
      details: { command: command.split('\n', 1)[0], answer: answer.trim() },
    });
    this.command = command;
    this.answer = answer;
  }
}

/** Administrative state a server can be put in at runtime. */
export type ServerAdminState = 'ready' | 'drain' | 'maint';

/** One line of `show servers state`, with the fields the planner needs typed. */
export interface ServerStateRow {
  readonly backend: string;
  readonly backendId: number;
  readonly server: string;
  readonly serverId: number;
  readonly addr: string;
  readonly port: number;
  /** 0 stopped, 1 starting, 2 running, 3 stopping (srv_op_state). */
  readonly opState: number;
  /** The raw srv_admin_state bit field. */
  readonly adminBits: number;
  /** Derived from `adminBits`: any maintenance flag wins over drain. */
  readonly admin: ServerAdminState;
  /** The user weight (srv_uweight), what `set server weight` changes. */
  readonly weight: number;
  /** Every column by its header name, for anything not typed above. */
  readonly fields: Readonly<Record<string, string>>;
}

/** One entry of a map. */
export interface MapEntry {
  readonly key: string;
  readonly value: string;
}

export interface RuntimeCallOptions {
  readonly signal: AbortSignal;
  /** @default the client's timeoutMs */
  readonly timeoutMs?: number;
}

export interface RuntimeApiOptions {
  /** Path of the `stats socket` (level admin). */
  readonly socketPath: string;
  /** Per-command deadline. @default 10000 */
  readonly timeoutMs?: number;
}

export interface ServerChange {
  /** New IPv4/IPv6 address (no host names: use DNS resolution in the config for those). */
  readonly addr?: string;
  /** New port; without `addr` the current address is kept. */
  readonly port?: number;
  /** 0-256. */
  readonly weight?: number;
  readonly state?: ServerAdminState;
}

// srv_admin_state bits (src/server.h): FMAINT 0x01, IMAINT 0x02, CMAINT 0x04, FDRAIN 0x08,
// IDRAIN 0x10, RMAINT 0x20, HMAINT 0x40.
// CMAINT (0x04, the `disabled` keyword) stays set after `state ready`, so it does not count.
const MAINT_BITS = 0x01 | 0x02 | 0x20 | 0x40;
const DRAIN_BITS = 0x08 | 0x10;

/**
 * Largest `add map` payload command sent at once. The CLI reads a command and its payload into one
 * 16 kB buffer; a larger one is dropped with an empty answer (measured on 2.6.12: 14.6 kB accepted,
 * 25 kB silently ignored).
 */
export const MAX_MAP_BATCH_BYTES = 15_000;

/** A Runtime API client bound to one socket. Stateless: safe to share and to call concurrently. */
export class RuntimeApi {
  readonly socketPath: string;
  readonly timeoutMs: number;

  constructor(options: RuntimeApiOptions) {
    this.socketPath = options.socketPath;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Sends one raw, already validated command and returns HAProxy's answer unparsed.
   * Prefer the typed methods; this exists for diagnostics.
   *
   * @throws SystemError HAPROXY_RUNTIME (retryable) when the socket does not answer.
   */
  async command(command: string, options: RuntimeCallOptions): Promise<string> {
    return sendSocketCommand(this.socketPath, command, { signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs });
  }

  /** Runs a command whose success answer is empty; anything else is a refusal. */
  private async expectEmpty(command: string, options: RuntimeCallOptions): Promise<void> {
    const answer = await this.command(command, options);
    if (answer === '' || answer.trim() !== '') throw new HaproxyRuntimeError(command, answer);
  }

  /** `show info` of the worker as key/value pairs (Pid, Uptime_sec, CurrConns...). */
  async showInfo(options: RuntimeCallOptions): Promise<Record<string, string>> {
    return parseInfo(await this.command('show info', options));
  }

  /**
   * `show servers state [<backend>]`.
   *
   * @throws HaproxyRuntimeError when the backend does not exist.
   */
  async showServersState(backend: string | undefined, options: RuntimeCallOptions): Promise<ServerStateRow[]> {
    const command = backend === undefined ? 'show servers state' : `show servers state ${assertCliToken('backend', backend)}`;
    const answer = await this.command(command, options);
    // Success starts with the format version line ("1"); refusals are a sentence.
    if (!/^\d+\n#/u.test(answer)) throw new HaproxyRuntimeError(command, answer);
    return parseServersState(answer);
  }

  /** `show stat` parsed from CSV: one record per proxy/server line, keyed by the header. */
  async showStat(options: RuntimeCallOptions): Promise<Record<string, string>[]> {
    const answer = await this.command('show stat', options);
    if (!answer.startsWith('# pxname,')) throw new HaproxyRuntimeError('show stat', answer);
    return parseStatCsv(answer);
  }

  /**
   * Changes a server in place: address/port first, then weight, then state, so a spare slot only
   * becomes ready once it points at its new address.
   *
   * @throws UserError HAPROXY_RUNTIME_ARGUMENT for a bad name, address, port or weight.
   * @throws HaproxyRuntimeError when HAProxy refuses (unknown backend/server, ...).
   */
  async setServer(backend: string, server: string, change: ServerChange, options: RuntimeCallOptions): Promise<void> {
    const target = `${assertCliToken('backend', backend)}/${assertCliToken('server', server)}`;
    if (change.addr !== undefined && isIP(change.addr) === 0) {
      throw new UserError('HAPROXY_RUNTIME_ARGUMENT', `server address ${JSON.stringify(change.addr)} for ${target} is not an IPv4 or IPv6 address; give an IP address`);
    }
    if (change.port !== undefined) assertIntRange('port', change.port, 1, 65535);
    if (change.weight !== undefined) assertIntRange('weight', change.weight, 0, 256);

    if (change.addr !== undefined || change.port !== undefined) {
      let addr = change.addr;
      if (addr === undefined) {
        // `set server ... port` alone is not accepted: the port goes with an address.
        const row = (await this.showServersState(backend, options)).find((r) => r.server === server);
        if (row === undefined) throw new HaproxyRuntimeError(`set server ${target} addr`, 'No such server.');
        addr = row.addr;
      }
      const command = `set server ${target} addr ${addr}${change.port === undefined ? '' : ` port ${change.port}`}`;
      const answer = await this.command(command, options);
      if (!/^(IP changed from|no need to change the addr)/u.test(answer) || /invalid|can't|cannot|error/iu.test(answer)) {
        throw new HaproxyRuntimeError(command, answer);
      }
    }
    if (change.weight !== undefined) await this.expectEmpty(`set server ${target} weight ${change.weight}`, options);
    if (change.state !== undefined) await this.expectEmpty(`set server ${target} state ${change.state}`, options);
  }

  /**
   * `add server <backend>/<server> <addr>:<port> [weight <w>]` (not experimental in 2.6), then
   * `enable server` unless `state` is 'maint': HAProxy creates dynamic servers in maintenance.
   * The backend's balance algorithm must support dynamic servers (roundrobin, leastconn, first...).
   *
   * @throws HaproxyRuntimeError when HAProxy refuses (name taken, unsupported backend...).
   */
  async addServer(backend: string, server: string, spec: { addr: string; port: number; weight?: number; state?: 'ready' | 'maint' }, options: RuntimeCallOptions): Promise<void> {
    const target = `${assertCliToken('backend', backend)}/${assertCliToken('server', server)}`;
    if (isIP(spec.addr) === 0) throw new UserError('HAPROXY_RUNTIME_ARGUMENT', `server address ${JSON.stringify(spec.addr)} for ${target} is not an IPv4 or IPv6 address`);
    assertIntRange('port', spec.port, 1, 65535);
    if (spec.weight !== undefined) assertIntRange('weight', spec.weight, 0, 256);
    const hostPort = isIP(spec.addr) === 6 ? `[${spec.addr}]:${spec.port}` : `${spec.addr}:${spec.port}`;
    const command = `add server ${target} ${hostPort}${spec.weight === undefined ? '' : ` weight ${spec.weight}`}`;
    const answer = await this.command(command, options);
    if (answer.trim() !== 'New server registered.') throw new HaproxyRuntimeError(command, answer);
    if (spec.state !== 'maint') await this.expectEmpty(`enable server ${target}`, options);
  }

  /**
   * Puts the server in maintenance, then `del server`. HAProxy refuses while connections are
   * still attached: drain first and retry later.
   *
   * @throws HaproxyRuntimeError when HAProxy refuses.
   */
  async delServer(backend: string, server: string, options: RuntimeCallOptions): Promise<void> {
    const target = `${assertCliToken('backend', backend)}/${assertCliToken('server', server)}`;
    await this.expectEmpty(`disable server ${target}`, options);
    const command = `del server ${target}`;
    const answer = await this.command(command, options);
    if (answer.trim() !== 'Server deleted.') throw new HaproxyRuntimeError(command, answer);
  }

  /**
   * Entries of a map, identified by its file path as written in the config.
   *
   * @throws HaproxyRuntimeError for an unknown map.
   */
  async showMap(path: string, options: RuntimeCallOptions): Promise<MapEntry[]> {
    const command = `show map ${assertCliToken('map path', path)}`;
    const answer = await this.command(command, options);
    const entries: MapEntry[] = [];
    for (const line of answer.split('\n')) {
      if (line === '') continue;
      const m = /^0x[0-9a-f]+ (\S+) ?(.*)$/u.exec(line);
      if (m === null) throw new HaproxyRuntimeError(command, answer);
      entries.push({ key: m[1] ?? '', value: m[2] ?? '' });
    }
    return entries;
  }

  /** Changes the value of an existing key. @throws HaproxyRuntimeError "entry not found." */
  async setMap(path: string, key: string, value: string, options: RuntimeCallOptions): Promise<void> {
    await this.expectEmpty(`set map ${assertCliToken('map path', path)} ${assertCliToken('map key', key)} ${assertCliToken('map value', value)}`, options);
  }

  /** Adds an entry (a duplicate key adds a second entry; use setMap to change one). */
  async addMap(path: string, key: string, value: string, options: RuntimeCallOptions): Promise<void> {
    await this.expectEmpty(`add map ${assertCliToken('map path', path)} ${assertCliToken('map key', key)} ${assertCliToken('map value', value)}`, options);
  }

  /** Deletes every entry with this key. @throws HaproxyRuntimeError "Key not found." */
  async delMap(path: string, key: string, options: RuntimeCallOptions): Promise<void> {
    await this.expectEmpty(`del map ${assertCliToken('map path', path)} ${assertCliToken('map key', key)}`, options);
  }

  /**
   * Replaces the whole content of a map atomically: `prepare map` opens a new version, the entries
   * go in with `add map @<ver> <map> <<` payload batches under `maxBatchBytes`, and `commit map`
   * swaps versions at once, so lookups see the old map or the new one, never a mix. If a batch
   * fails nothing is committed (the next `prepare map` discards the half-filled version).
   *
   * @returns the committed version and how many batches were sent.
   * @throws UserError HAPROXY_RUNTIME_ARGUMENT for a key or value that cannot be sent.
   * @throws HaproxyRuntimeError when HAProxy refuses a step.
   */
  async replaceMap(path: string, entries: readonly MapEntry[], options: RuntimeCallOptions & { readonly maxBatchBytes?: number }): Promise<{ version: number; batches: number }> {
    const map = assertCliToken('map path', path);
    const lines = entries.map((e) => `${assertCliToken('map key', e.key)} ${assertCliToken('map value', e.value)}\n`);
    const prepare = `prepare map ${map}`;
    const prepared = await this.command(prepare, options);
    const m = /^New version created: (\d+)\n/u.exec(prepared);
    if (m === null) throw new HaproxyRuntimeError(prepare, prepared);
    const version = Number(m[1]);
    const head = `add map @${version} ${map} <<\n`;
    const limit = (options.maxBatchBytes ?? MAX_MAP_BATCH_BYTES) - Buffer.byteLength(head) - 2;
    let batches = 0;
    let batch = '';
    const flush = async (): Promise<void> => {
      if (batch === '') return;
      // The payload ends at the first empty line.
      await this.expectEmpty(`${head}${batch}\n`, options);
      batches += 1;
      batch = '';
    };
    for (const line of lines) {
      if (Buffer.byteLength(line) > limit) throw new UserError('HAPROXY_RUNTIME_ARGUMENT', `map entry ${JSON.stringify(line.trim().slice(0, 80))} of ${map} is longer than one Runtime API batch (${limit} bytes)`);
      if (Buffer.byteLength(batch) + Buffer.byteLength(line) > limit) await flush();
      batch += line;
    }
    await flush();
    await this.expectEmpty(`commit map @${version} ${map}`, options);
    return { version, batches };
  }
}

function assertIntRange(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UserError('HAPROXY_RUNTIME_ARGUMENT', `${field} ${String(value)} is not allowed: use an integer from ${min} to ${max}`, { details: { field, value } });
  }
}

/** Parses `show info` ("Key: value" lines). */
export function parseInfo(answer: string): Record<string, string> {
  const info: Record<string, string> = {};
  for (const line of answer.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) info[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return info;
}

/** Parses the answer of `show servers state` (format version 1). */
export function parseServersState(answer: string): ServerStateRow[] {
  const lines = answer.split('\n');
  const header = lines.find((l) => l.startsWith('# '))?.slice(2).split(' ') ?? [];
  const rows: ServerStateRow[] = [];
  for (const line of lines) {
    if (line === '' || line.startsWith('#') || /^\d+$/u.test(line)) continue;
    const cols = line.split(' ');
    const fields: Record<string, string> = {};
    header.forEach((name, i) => (fields[name] = cols[i] ?? ''));
    const adminBits = Number(fields['srv_admin_state'] ?? '0');
    rows.push({
      backend: fields['be_name'] ?? '',
      backendId: Number(fields['be_id']),
      server: fields['srv_name'] ?? '',
      serverId: Number(fields['srv_id']),
      addr: fields['srv_addr'] ?? '',
      port: Number(fields['srv_port']),
      opState: Number(fields['srv_op_state']),
      adminBits,
      admin: (adminBits & MAINT_BITS) !== 0 ? 'maint' : (adminBits & DRAIN_BITS) !== 0 ? 'drain' : 'ready',
      weight: Number(fields['srv_uweight']),
      fields,
    });
  }
  return rows;
}

/** Parses `show stat` CSV (no quoting is used by HAProxy in these columns). */
export function parseStatCsv(answer: string): Record<string, string>[] {
  const [headerLine, ...lines] = answer.split('\n');
  const header = (headerLine ?? '').replace(/^# /u, '').split(',');
  return lines
    .filter((l) => l !== '')
    .map((line) => {
      const cols = line.split(',');
      const row: Record<string, string> = {};
      header.forEach((name, i) => {
        if (name !== '') row[name] = cols[i] ?? '';
      });
      return row;
    });
}
