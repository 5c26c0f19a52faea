/**
 * One HTTP GET, run INSIDE a lab client namespace for `LabHandle.request`; prints one JSON object:
 * `{status, headers, body}` or `{error}`.
 *
 * Usage: node vip-request.js URL HEADERS_JSON TIMEOUT_MS
 * (`overlay-lb --own-program vip-request ...` from the single executable)
 */
import { isMainScript } from '../util/own-program.js';

/** The request (usage above); exported for the single executable's `--own-program vip-request`. */
export async function main(argv: readonly string[]): Promise<void> {
  const [url = '', headers = '{}', timeout = '3000'] = argv;
  try {
    const res = await fetch(url, { headers: JSON.parse(headers) as Record<string, string>, signal: AbortSignal.timeout(Number(timeout)) });
    const body = await res.text();
    process.stdout.write(JSON.stringify({ status: res.status, headers: Object.fromEntries(res.headers), body }));
  } catch (error) {
    const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
    process.stdout.write(JSON.stringify({ error: String(cause === undefined ? error : (cause.code ?? cause)) }));
  }
  // An aborted connect would keep the process alive until undici's own connect timeout.
  process.exit(0);
}

if (isMainScript(import.meta.url)) {
  void main(process.argv.slice(2));
}
