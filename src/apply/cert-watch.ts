/**
 * Rotates TLS certificates without a reload when their files change (issue 21, item 4).
 *
 * Every `pollMs` (and at once when a file's directory reports a change) each certificate file of
 * the running spec whose size, mtime or inode moved is read; when the leaf certificate in it
 * differs from the one HAProxy serves from that file (`show ssl cert`: SHA-1 fingerprint), it is
 * replaced through the Runtime API (src/haproxy/ssl-cert.ts). Comparing with what HAProxy serves,
 * not with a remembered copy, makes the watcher right after an agent restart and after a reload
 * (a reload loads the files from disk; the comparison then finds nothing to do).
 *
 * What rotates here is the content of a file the config already names. Which names a certificate
 * answers for is decided by the spec (`tls.sni`, a crt-list: a change is a spec change and reloads)
 * or, with `tls.certificates`, by the names inside the file, which HAProxy re-reads on commit.
 * A file too large for one Runtime API command is loaded by a reload instead (`reload`).
 * A refusal (not PEM, key does not match, unreadable) is reported and retried only once the file
 * changes again; what HAProxy serves stays as it was.
 */
import { X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { replaceSslCert, showSslCertFingerprint, sslCertPayload } from '../haproxy/ssl-cert.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { OverlayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/** What became of one changed certificate file. */
export type CertWatchEvent =
  | { readonly kind: 'rotated'; readonly file: string; readonly fingerprint: string; readonly via: 'runtime-api' | 'reload' }
  | { readonly kind: 'failed'; readonly file: string; readonly error: { readonly code: string; readonly message: string } };

export interface CertWatchOptions {
  /** The certificate files of the spec that runs now (called on every pass: spec changes apply). */
  readonly files: () => readonly string[];
  readonly runtime: RuntimeApi;
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Reloads HAProxy (for a file too large for the Runtime API). */
  readonly reload: (reason: string, signal: AbortSignal) => Promise<void>;
  readonly onEvent?: (event: CertWatchEvent) => void;
  /** @default 2000 */
  readonly pollMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** The SHA-1 fingerprint of the first certificate of a PEM text, as HAProxy prints it, or null. */
export function leafFingerprint(pem: string): string | null {
  try {
    return new X509Certificate(pem).fingerprint.replaceAll(':', '').toUpperCase();
  } catch {
    return null;
  }
}

/** Runs until `signal` aborts; never throws for a file or HAProxy problem (those are events). */
export async function watchCertificates(options: CertWatchOptions): Promise<void> {
  const { signal } = options;
  const clock = options.clock ?? systemClock;
  const pollMs = options.pollMs ?? 2000;
  /** file -> the stat signature last handled (absent: look at it on the next pass). */
  const seen = new Map<string, string>();
  const watchers = new Map<string, FSWatcher>();
  let wake: (() => void) | null = null;
  const watchDirs = (files: readonly string[]): void => {
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => wake?.());
        w.on('error', () => undefined);
        watchers.set(dir, w);
      } catch {
        // A missing directory: the poll still covers it.
      }
    }
  };
  try {
    while (!signal.aborted) {
      const files = options.files();
      watchDirs(files);
      for (const file of files) {
        if (signal.aborted) break;
        const sig = await stat(file).then((s) => `${s.ino}:${s.size}:${s.mtimeMs}`, () => 'missing');
        if (seen.get(file) === sig) continue;
        const done = await checkFile(file, options);
        if (done) seen.set(file, sig);
      }
      await Promise.race([clock.sleep(pollMs, signal).catch(() => undefined), new Promise<void>((r) => { wake = r; })]);
      wake = null;
      // Let a writer finish (a copy in place rather than a rename) before reading.
      await clock.sleep(100, signal).catch(() => undefined);
    }
  } finally {
    for (const w of watchers.values()) w.close();
  }
}

/** One file: true when handled for good (in sync, rotated, or refused until it changes again). */
async function checkFile(file: string, o: Pick<CertWatchOptions, 'runtime' | 'signal' | 'log' | 'reload' | 'onEvent'>): Promise<boolean> {
  const fail = (code: string, message: string): true => {
    o.log.error({ event: 'tls-rotate-failed', file, code, error: message }, 'a certificate file changed but cannot be loaded: haproxy keeps serving the previous certificate');
    o.onEvent?.({ kind: 'failed', file, error: { code, message } });
    return true;
  };
  const pem = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => err);
  if (pem instanceof Error) return pem.code === 'ENOENT' ? false : fail('TLS_CERTIFICATE', `${file}: cannot read it (${pem.code ?? pem.message})`);
  const wanted = leafFingerprint(pem);
  if (wanted === null) return fail('TLS_CERTIFICATE', `${file}: no PEM certificate in it; write the certificate, its chain and its key as PEM`);
  let serving: string;
  try {
    serving = await showSslCertFingerprint(o.runtime, file, { signal: o.signal });
  } catch (err) {
    // Not (yet) in the running config, or haproxy not answering: look again on the next pass.
    o.log.debug({ event: 'tls-rotate-skip', file, err }, 'haproxy does not show this certificate now');
    return false;
  }
  if (serving === wanted) return true;
  const payload = sslCertPayload(pem);
  try {
    if (!payload.ok && payload.reason === 'too-large') {
      await o.reload(`certificate ${file} changed and is too large for the Runtime API`, o.signal);
      o.log.info({ event: 'tls-rotated', file, fingerprint: wanted, via: 'reload' }, 'certificate rotated by a reload');
      o.onEvent?.({ kind: 'rotated', file, fingerprint: wanted, via: 'reload' });
      return true;
    }
    await replaceSslCert(o.runtime, file, pem, { signal: o.signal });
  } catch (err) {
    if (o.signal.aborted) return false;
    if (err instanceof OverlayError && err.retryable) return false;
    return fail(err instanceof OverlayError ? err.code : 'INTERNAL', err instanceof Error ? err.message : String(err));
  }
  o.log.info({ event: 'tls-rotated', file, fingerprint: wanted, previous: serving, via: 'runtime-api' }, 'certificate rotated without a reload');
  o.onEvent?.({ kind: 'rotated', file, fingerprint: wanted, via: 'runtime-api' });
  return true;
}
