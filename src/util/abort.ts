/**
 * A signal that aborts when `parent` aborts or after `ms`, whichever comes first.
 *
 * Why not `AbortSignal.any([parent, AbortSignal.timeout(ms)])`: in Node 20 the timer of
 * `AbortSignal.timeout()` holds its signal only weakly, and so does the combined signal; when
 * nothing else references the timeout signal, garbage collection can take it and the deadline
 * never fires. Found by the API-unreachable e2e test: a hung EC2 call was sometimes never aborted
 * and the new master never claimed. Here the timer's closure holds its controller strongly until
 * it fires; combining with `AbortSignal.any` adds no listener to the (long-lived) parent. The
 * timer is unreferenced, so it never keeps a finished process alive.
 */
export function timeoutSignal(ms: number, parent?: AbortSignal): AbortSignal {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms);
  timer.unref();
  return parent === undefined ? ac.signal : AbortSignal.any([parent, ac.signal]);
}

/**
 * Waits for `promise`, or until `signal` aborts (then resolves `undefined`), and removes its abort
 * listener either way. A loop that waits like this on a long-lived signal adds no listener per
 * round (a bare `new Promise((r) => signal.addEventListener('abort', r))` in a loop does: one more
 * listener that is never removed each time round, Node's MaxListenersExceededWarning in the end).
 */
export async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return undefined;
  let onAbort = (): void => undefined;
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
