/**
 * Tells systemd about the service's state (`Type=notify`) when it runs under systemd: Node.js has
 * no unix datagram sockets, so this runs `systemd-notify` (the unit sets `NotifyAccess=all`, so
 * systemd accepts the message from that child of the agent). Without `NOTIFY_SOCKET` (not under
 * systemd: a shell, the lab, a test) it does nothing.
 */
import { runCommand } from './exec.js';
import type { Logger } from './log.js';

/** systemd-notify's absolute path on Debian 12 (package systemd). */
export const SYSTEMD_NOTIFY = '/usr/bin/systemd-notify';

/**
 * Sends READY=1 (with a STATUS= line) for the process `pid`. Never throws: a failure is logged,
 * since systemd then reports the start as timed out by itself.
 * @returns whether a notification was sent.
 */
export async function notifyReady(options: { readonly status: string; readonly pid?: number; readonly log: Logger; readonly signal: AbortSignal; readonly env?: NodeJS.ProcessEnv }): Promise<boolean> {
  const env = options.env ?? process.env;
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return false;
  try {
    const r = await runCommand([SYSTEMD_NOTIFY, '--ready', `--pid=${options.pid ?? process.pid}`, `--status=${options.status}`], { signal: options.signal, timeoutMs: 10_000, env });
    if (r.code === 0) return true;
    options.log.error({ event: 'sd-notify-failed', code: r.code, stderr: r.stderr.trim() }, 'could not tell systemd the agent is ready (systemd-notify failed)');
    return false;
  } catch (err) {
    options.log.error({ event: 'sd-notify-failed', err }, 'could not tell systemd the agent is ready (systemd-notify failed)');
    return false;
  }
}
