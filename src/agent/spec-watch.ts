import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Spec } from '../model/spec.js';
import { parseSpec } from '../speclang/parse.js';
import { OverlayError, formatDiagnostic } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { systemClock } from '../util/clock.js';

/**
 * Watches the spec file (its directory, so editors' atomic renames are seen, plus a 2 s poll as a
 * fallback) and calls `onChange` with each new VALID spec whose hash differs. Invalid specs are
 * logged with every diagnostic and change nothing: what runs keeps running. `onRejected` hears of
 * every change that did not roll out (invalid, or `onChange` threw), for status and metrics.
 */
export async function watchSpec(file: string, initialHash: string, options: {
  signal: AbortSignal;
  log: Logger;
  onChange: (next: { spec: Spec; hash: string }) => Promise<void>;
  onRejected?: (r: { kind: 'invalid' | 'failed'; specHash: string | null; error: { code: string; message: string } }) => void;
  /** Its `reload` events re-read the file at once, even when it looks unchanged (`systemctl reload`). */
  reloadRequests?: EventTarget;
}): Promise<void> {
  const { signal, log } = options;
  let lastHash = initialHash;
  let lastText: string | null = null;
  let wake: (() => void) | null = null;
  const watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
    if (name === null || name === basename(file)) wake?.();
  });
  watcher.on('error', () => undefined);
  const onReload = (): void => {
    log.info({ event: 'spec-reload', file }, 'reload requested: re-reading the spec');
    lastText = null;
    wake?.();
  };
  options.reloadRequests?.addEventListener('reload', onReload);
  try {
    while (!signal.aborted) {
      await Promise.race([
        systemClock.sleep(2000, signal).catch(() => undefined),
        new Promise<void>((r) => { wake = r; }),
      ]);
      wake = null;
      if (signal.aborted) break;
      // Let an editor finish writing before reading.
      await systemClock.sleep(100, signal).catch(() => undefined);
      const text = await readFile(file, 'utf8').catch(() => null);
      if (text === null || text === lastText) continue;
      lastText = text;
      const parsed = parseSpec(text, { file });
      if (!parsed.ok) {
        const errors = parsed.diagnostics.map(formatDiagnostic);
        log.error({ event: 'spec-invalid', file, errors }, 'the spec file changed but is invalid: nothing changes');
        options.onRejected?.({ kind: 'invalid', specHash: null, error: { code: parsed.diagnostics[0]?.code ?? 'SPEC_YAML', message: `${errors.length} problem(s) in ${file}; first: ${errors[0] ?? '?'}` } });
        continue;
      }
      if (parsed.hash === lastHash) continue;
      try {
        await options.onChange({ spec: parsed.spec, hash: parsed.hash });
        lastHash = parsed.hash;
      } catch (err) {
        log.error({ event: 'spec-apply-failed', file, err }, 'the spec change could not be applied; the last good config keeps serving');
        options.onRejected?.({ kind: 'failed', specHash: parsed.hash, error: err instanceof OverlayError ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } });
        lastText = null; // try again on the next poll
      }
    }
  } finally {
    options.reloadRequests?.removeEventListener('reload', onReload);
    watcher.close();
  }
}
