/**
 * What a lab instance runs from its user data, as cloud-init would on a real instance (no I/O):
 * the instance host (src/lab/instance-host.ts) runs one script, so every format cloud-init runs
 * is turned into one script here.
 *
 * - A `#!` script is run as it is (cloud-init's scripts-user).
 * - gzip-compressed user data (magic 1f 8b) is decompressed first, as cloud-init does.
 * - MIME multi-part (detected as cloud-init detects it: `MIME-Version:` in the first 4096 bytes):
 *   `text/x-shellscript` parts (also `-per-boot`, `-per-instance`, `-per-once`: the lab runs user
 *   data on the first boot only, where cloud-init runs all of them) become scripts named by their
 *   `filename` parameter or `part-NNN`, run in the order of their names as cloud-init's run-parts
 *   does; `text/cloud-config` parts as below; `text/plain` parts by their first line; gzip parts
 *   decompressed; nested multi-parts followed; other types (boothooks, include files, part
 *   handlers, jinja templates) are reported on the console and not run.
 * - `#cloud-config`: the subset `write_files` (path, content, encoding b64/gzip/gz+b64,
 *   permissions, owner, append) and `runcmd` (strings run by sh as lines, lists as quoted argv,
 *   after the scripts as cloud-init's `runcmd` script sorts after `part-NNN`); every other key is
 *   reported on the console and not run.
 *
 * The result is a `/bin/sh` runner that writes each part next to itself (`$0.d/`) from base64 (no
 * value of the user data is ever interpolated into shell syntax: paths and arguments are single-
 * quoted, contents base64) and runs them in order, going on after a failed part and exiting 1 if
 * any failed, as cloud-init's scripts-user module does ("Failed to run module scripts-user").
 * https://cloudinit.readthedocs.io/en/latest/explanation/format.html
 */
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';

/** The script to run (null: nothing to run) and the console lines that say what was not run. */
export interface UserDataScript {
  readonly script: string | null;
  readonly notes: readonly string[];
}

/** The most a gzip part may inflate to (cloud-init has no limit; the lab bounds its memory). */
const MAX_INFLATED_BYTES = 16 * 1024 * 1024;
const SHELL_TYPES = ['text/x-shellscript', 'text/x-shellscript-per-boot', 'text/x-shellscript-per-instance', 'text/x-shellscript-per-once'];

interface Collected {
  /** Scripts by file name (later parts of the same name replace earlier ones, as files do). */
  readonly scripts: Map<string, Buffer>;
  readonly writeFiles: WriteFile[];
  runcmd: string[] | null;
  readonly notes: string[];
  partCount: number;
}

interface WriteFile {
  readonly path: string;
  readonly content: Buffer;
  readonly permissions: string;
  readonly owner: string;
  readonly append: boolean;
}

const isGzip = (data: Buffer): boolean => data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;

function gunzip(data: Buffer, what: string, notes: string[]): Buffer | null {
  try {
    return gunzipSync(data, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (error) {
    notes.push(`lab: ${what} is gzip data that does not decompress (${(error as Error).message}); not run`);
    return null;
  }
}

/** Any string as one sh word, nothing in it syntax (cloud-init quotes runcmd argv so; src/cloud/aws/provision/user-data.ts refuses unsafe values instead). */
export function shellWord(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Parsed MIME headers (lower-case names; folded lines unfolded) and the body after the blank line. */
function splitMessage(text: string): { headers: Map<string, string>; body: string } {
  const match = /\r?\n\r?\n/.exec(text);
  const head = match === null ? text : text.slice(0, match.index);
  const body = match === null ? '' : text.slice(match.index + match[0].length);
  const headers = new Map<string, string>();
  let last: string | null = null;
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last !== null) {
      headers.set(last, `${headers.get(last)!} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    headers.set(last, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** `type/subtype; a=b; c="d"` -> the type (lower case) and its parameters (names lower case). */
function parseHeaderValue(value: string | undefined): { value: string; params: Map<string, string> } {
  const [first = '', ...rest] = (value ?? '').split(';');
  const params = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'));
  }
  return { value: first.trim().toLowerCase(), params };
}

/** The type cloud-init gives a part by its first bytes (its `type_from_starts_with`). */
function typeFromContent(data: Buffer): string | null {
  if (isGzip(data)) return 'application/x-gzip';
  const start = data.subarray(0, 64).toString('latin1');
  if (start.startsWith('#!')) return 'text/x-shellscript';
  if (/^#cloud-config-archive/i.test(start)) return 'text/cloud-config-archive';
  if (/^#cloud-config/i.test(start)) return 'text/cloud-config';
  if (/^#include/i.test(start)) return 'text/x-include-url';
  if (/^#cloud-boothook/i.test(start)) return 'text/cloud-boothook';
  if (/^#part-handler/i.test(start)) return 'text/part-handler';
  if (/^## template: jinja/i.test(start)) return 'text/jinja2';
  if (/^#upstart-job/i.test(start)) return 'text/upstart-job';
  return null;
}

/** A part's payload, decoded by its Content-Transfer-Encoding. */
function decodeBody(body: string, encoding: string | undefined): Buffer {
  const e = (encoding ?? '').trim().toLowerCase();
  if (e === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64');
  if (e === 'quoted-printable') {
    return Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))), 'latin1');
  }
  return Buffer.from(body, 'latin1');
}

/** A file name cloud-init would write the part under: no path, only safe characters. */
function partFileName(name: string | undefined, count: number): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return clean === '' ? `part-${String(count).padStart(3, '0')}` : clean;
}

function collectMultipart(text: string, collected: Collected, depth: number): void {
  const { headers, body } = splitMessage(text);
  const type = parseHeaderValue(headers.get('content-type'));
  if (!type.value.startsWith('multipart/')) {
    // A single MIME part at the top (cloud-init accepts it too).
    collectPart({ type: type.value, params: type.params, disposition: headers.get('content-disposition'), data: decodeBody(body, headers.get('content-transfer-encoding')) }, collected, depth);
    return;
  }
  const boundary = type.params.get('boundary');
  if (boundary === undefined || boundary === '') {
    collected.notes.push(`lab: the user data's ${type.value} has no boundary parameter; nothing run`);
    return;
  }
  const delimiter = `--${boundary}`;
  const lines = body.split(/\r?\n/);
  let current: string[] | null = null;
  const parts: string[] = [];
  for (const line of lines) {
    if (line.trimEnd() === `${delimiter}--`) {
      if (current !== null) parts.push(current.join('\n'));
      current = null;
      break;
    }
    if (line.trimEnd() === delimiter) {
      if (current !== null) parts.push(current.join('\n'));
      current = [];
      continue;
    }
    current?.push(line);
  }
  if (current !== null) parts.push(current.join('\n'));
  for (const part of parts) {
    const message = splitMessage(part);
    const partType = parseHeaderValue(message.headers.get('content-type') ?? 'text/plain');
    if (partType.value.startsWith('multipart/')) {
      if (depth < 8) collectMultipart(part, collected, depth + 1);
      else collected.notes.push('lab: the user data nests multi-parts more than 8 deep; the inner parts are not run');
      continue;
    }
    collectPart({
      type: partType.value, params: partType.params, disposition: message.headers.get('content-disposition'),
      data: decodeBody(message.body.replace(/\r?\n$/, ''), message.headers.get('content-transfer-encoding')),
    }, collected, depth);
  }
}

function collectPart(part: { type: string; params: Map<string, string>; disposition: string | undefined; data: Buffer }, collected: Collected, depth: number): void {
  collected.partCount += 1;
  let type = part.type;
  if (type === 'text/plain' || type === '' || type === 'text/x-not-multipart') type = typeFromContent(part.data) ?? 'text/plain';
  if (type === 'application/x-gzip' || type === 'application/gzip' || type === 'application/gzip-compressed' || type === 'application/gzipped') {
    const inflated = gunzip(part.data, `user-data part ${collected.partCount}`, collected.notes);
    if (inflated !== null && depth < 8) collectUserData(inflated, collected, depth + 1);
    return;
  }
  if (SHELL_TYPES.includes(type)) {
    const name = parseHeaderValue(part.disposition).params.get('filename') ?? part.params.get('name');
    collected.scripts.set(partFileName(name, collected.partCount), part.data);
    return;
  }
  if (type === 'text/cloud-config') {
    collectCloudConfig(part.data.toString('utf8'), collected);
    return;
  }
  collected.notes.push(`lab: user-data part ${collected.partCount} of type ${type} is not run in the lab (it runs #! scripts, text/x-shellscript parts and #cloud-config write_files/runcmd)`);
}

function collectCloudConfig(text: string, collected: Collected): void {
  let config: unknown;
  try {
    // YAML 1.1, as cloud-init's PyYAML reads it (an unquoted 0644 is octal, `yes` is true).
    config = parseYaml(text, { version: '1.1' });
  } catch (error) {
    collected.notes.push(`lab: the #cloud-config is not valid YAML (${(error as Error).message.split('\n')[0] ?? ''}); nothing of it run`);
    return;
  }
  if (config === null || config === undefined) return;
  if (typeof config !== 'object' || Array.isArray(config)) {
    collected.notes.push('lab: the #cloud-config is not a YAML mapping; nothing of it run');
    return;
  }
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    if (key === 'write_files') collectWriteFiles(value, collected);
    else if (key === 'runcmd') collectRuncmd(value, collected);
    else collected.notes.push(`lab: cloud-config key ${key} is not run in the lab (it runs write_files and runcmd)`);
  }
}

function collectWriteFiles(value: unknown, collected: Collected): void {
  if (!Array.isArray(value)) {
    collected.notes.push('lab: cloud-config write_files is not a list; no file written');
    return;
  }
  for (const [index, entry] of value.entries()) {
    const e = (entry ?? {}) as Record<string, unknown>;
    const path = e['path'];
    if (typeof path !== 'string' || !path.startsWith('/')) {
      collected.notes.push(`lab: cloud-config write_files[${index}] has no absolute path; not written`);
      continue;
    }
    const encoding = typeof e['encoding'] === 'string' ? e['encoding'].toLowerCase() : 'text/plain';
    const given = e['content'];
    const raw = typeof given === 'string' ? given : typeof given === 'number' || typeof given === 'boolean' ? String(given) : '';
    let content: Buffer | null = Buffer.from(raw, 'utf8');
    if (['b64', 'base64', 'gz+b64', 'gzip+base64', 'gz+base64', 'gzip+b64'].includes(encoding)) content = Buffer.from(raw.replace(/\s+/g, ''), 'base64');
    if (['gz', 'gzip', 'gz+b64', 'gzip+base64', 'gz+base64', 'gzip+b64'].includes(encoding)) {
      content = gunzip(encoding.includes('+') ? content : Buffer.from(raw, 'latin1'), `cloud-config write_files[${index}] (${path})`, collected.notes);
    }
    if (content === null) continue;
    const mode = e['permissions'];
    // An unquoted 0644 is a number in YAML 1.1 (octal): its octal digits are the mode, as in cloud-init.
    const permissions = mode === undefined ? '0644' : typeof mode === 'number' ? `0${mode.toString(8)}` : typeof mode === 'string' ? mode : JSON.stringify(mode);
    if (!/^0?[0-7]{3,4}$/.test(permissions)) {
      collected.notes.push(`lab: cloud-config write_files[${index}] (${path}) has permissions ${permissions}, not an octal mode such as '0644'; not written`);
      continue;
    }
    const owner = typeof e['owner'] === 'string' ? e['owner'] : 'root:root';
    collected.writeFiles.push({ path, content, permissions, owner, append: e['append'] === true });
  }
}

function collectRuncmd(value: unknown, collected: Collected): void {
  if (!Array.isArray(value)) {
    collected.notes.push('lab: cloud-config runcmd is not a list; nothing run');
    return;
  }
  // As cloud-init's cc_runcmd: a string is a shell line, a list is an argv (each word quoted).
  collected.runcmd = value.map((item) => (Array.isArray(item) ? item.map((w) => shellWord(String(w))).join(' ') : String(item)));
}

function collectUserData(data: Buffer, collected: Collected, depth: number): void {
  if (isGzip(data)) {
    const inflated = gunzip(data, 'the user data', collected.notes);
    if (inflated !== null && depth < 8) collectUserData(inflated, collected, depth + 1);
    return;
  }
  const head = data.subarray(0, 4096).toString('latin1').toLowerCase();
  if (head.includes('mime-version:')) {
    collectMultipart(data.toString('latin1'), collected, depth);
    return;
  }
  collectPart({ type: typeFromContent(data) ?? 'text/plain', params: new Map(), disposition: undefined, data }, collected, depth);
}

/**
 * The script a lab instance runs for its user data (decoded from base64), and the console notes
 * for what is not run. A plain `#!` script comes back unchanged.
 */
export function userDataScript(data: Buffer): UserDataScript {
  if (data.subarray(0, 2).toString('latin1') === '#!') return { script: data.toString('utf8'), notes: [] };
  const collected: Collected = { scripts: new Map(), writeFiles: [], runcmd: null, notes: [], partCount: 0 };
  collectUserData(data, collected, 0);
  const { scripts, writeFiles, runcmd, notes } = collected;
  // cloud-init runs a single plain script as it is: so does the lab (gzip-compressed `#!`).
  if (scripts.size === 1 && writeFiles.length === 0 && runcmd === null && notes.length === 0) {
    return { script: [...scripts.values()][0]!.toString('utf8'), notes };
  }
  if (runcmd !== null) scripts.set('runcmd', Buffer.from(`#!/bin/sh\n${runcmd.join('\n')}\n`, 'utf8'));
  if (scripts.size === 0 && writeFiles.length === 0) {
    return { script: null, notes: notes.length > 0 ? notes : ['lab: the user data holds no #! script, text/x-shellscript part or #cloud-config write_files/runcmd; nothing run'] };
  }
  const lines = [
    '#!/bin/sh',
    '# Written by the lab (src/lab/user-data-format.ts): the user data\'s parts, run as cloud-init runs them.',
    'dir="$0.d"',
    'mkdir -p "$dir" && chmod 700 "$dir" || exit 1',
    'failed=0',
  ];
  for (const file of writeFiles) {
    const p = shellWord(file.path);
    lines.push(
      `mkdir -p "$(dirname ${p})" && printf '%s' '${file.content.toString('base64')}' | base64 -d ${file.append ? '>>' : '>'} ${p} && chmod ${file.permissions} ${p} && chown ${shellWord(file.owner)} ${p} `
      + `|| { echo 'lab: write_files: '${p}' not written'; failed=1; }`,
    );
  }
  const names = [...scripts.keys()].sort();
  for (const name of names) {
    lines.push(`printf '%s' '${scripts.get(name)!.toString('base64')}' | base64 -d > "$dir/${name}" && chmod 700 "$dir/${name}" || exit 1`);
  }
  for (const name of names) {
    lines.push(`"$dir/${name}"`, `rc=$?`, `[ "$rc" -eq 0 ] || { echo "lab: user-data part ${name} exited with status $rc"; failed=1; }`);
  }
  lines.push('exit "$failed"', '');
  return { script: lines.join('\n'), notes };
}
