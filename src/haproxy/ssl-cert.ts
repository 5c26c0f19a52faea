/**
 * Certificate rotation through the HAProxy 2.6 Runtime API, without a reload:
 * `set ssl cert <file> <<` opens a transaction with the new PEM, `commit ssl cert <file>` swaps it
 * into every bind and crt-list line that loads that file (new handshakes get it; established
 * connections keep theirs), `abort ssl cert <file>` drops a transaction that failed.
 * Reference: https://docs.haproxy.org/2.6/management.html#9.3 (set ssl cert, commit ssl cert).
 *
 * The payload is the file's text with its blank lines removed: on the CLI an empty line ends a
 * payload, so a blank line inside a PEM file would end it early and hand the rest of the file to
 * the CLI as commands. The CLI reads a command and its payload into one buffer (tune.bufsize,
 * 16 kB): a larger file is refused here as `too-large`; the caller reloads instead.
 */
import { SystemError, UserError } from '../util/errors.js';
import { HaproxyRuntimeError, MAX_MAP_BATCH_BYTES, type RuntimeApi, type RuntimeCallOptions } from './runtime-api.js';
import { assertCliToken } from './socket.js';

/** The certificate HAProxy serves from `file` now: its SHA-1 fingerprint (upper-case hex, no colons). */
export async function showSslCertFingerprint(api: RuntimeApi, file: string, options: RuntimeCallOptions): Promise<string> {
  const command = `show ssl cert ${assertCliToken('certificate path', file)}`;
  const answer = await api.command(command, options);
  const m = /^SHA1 FingerPrint: ([0-9A-F]{40})$/mu.exec(answer);
  if (m?.[1] === undefined) throw new HaproxyRuntimeError(command, answer);
  return m[1];
}

/** What a PEM file becomes on the CLI: its non-blank lines, or why it cannot be sent. */
export function sslCertPayload(pem: string): { ok: true; payload: string } | { ok: false; reason: 'too-large' | 'not-pem'; detail: string } {
  if (/[^\x20-\x7e\r\n\t]/u.test(pem) || !pem.includes('-----BEGIN ')) return { ok: false, reason: 'not-pem', detail: 'the file is not PEM text (printable ASCII with -----BEGIN blocks)' };
  const payload = pem.split(/\r?\n/u).filter((l) => l.trim() !== '').map((l) => l.trimEnd()).join('\n');
  const size = Buffer.byteLength(payload) + 300;
  if (size > MAX_MAP_BATCH_BYTES) return { ok: false, reason: 'too-large', detail: `${Buffer.byteLength(payload)} bytes of PEM exceed what one Runtime API command carries (~${MAX_MAP_BATCH_BYTES - 300})` };
  return { ok: true, payload };
}

/**
 * Replaces the certificate HAProxy loaded from `file` with `pem` (certificate, chain and key), in
 * one transaction; a refused payload or commit aborts the transaction so a later try starts clean.
 *
 * @throws UserError TLS_CERTIFICATE when the text is not PEM or too large for the Runtime API.
 * @throws HaproxyRuntimeError when HAProxy refuses it (bad PEM, key does not match, unknown file).
 */
export async function replaceSslCert(api: RuntimeApi, file: string, pem: string, options: RuntimeCallOptions): Promise<void> {
  const path = assertCliToken('certificate path', file);
  const p = sslCertPayload(pem);
  if (!p.ok) throw new UserError('TLS_CERTIFICATE', `${path}: ${p.detail}; ${p.reason === 'too-large' ? 'reload haproxy to load it' : 'write the certificate, its chain and its key as PEM'}`, { details: { path, reason: p.reason } });
  const set = `set ssl cert ${path} <<\n${p.payload}\n\n`;
  const created = await api.command(set, options);
  if (!/^Transaction (created|updated) for certificate /u.test(created)) {
    await abortQuietly(api, path, options);
    throw new HaproxyRuntimeError(`set ssl cert ${path}`, created);
  }
  const commit = `commit ssl cert ${path}`;
  const committed = await api.command(commit, options);
  if (!/\nSuccess!/u.test(committed)) {
    await abortQuietly(api, path, options);
    throw new HaproxyRuntimeError(commit, committed);
  }
}

async function abortQuietly(api: RuntimeApi, path: string, options: RuntimeCallOptions): Promise<void> {
  try {
    await api.command(`abort ssl cert ${path}`, options);
  } catch (err) {
    // The transaction dies with the worker anyway; the refusal being reported matters more.
    if (!(err instanceof SystemError)) throw err;
  }
}
