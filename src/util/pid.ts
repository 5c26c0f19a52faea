import { readFileSync } from 'node:fs';

/**
 * Whether a process exists and is not a zombie. A zombie (exited, not yet reaped) still answers
 * kill(0); in a container where nothing reaps orphans, the pid of a dead haproxy or keepalived
 * can stay a zombie indefinitely. EPERM means it exists under another user.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let stat = '';
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // The state is the first field after the parenthesised command name.
  return stat.slice(stat.lastIndexOf(')') + 2).charAt(0) !== 'Z';
}
