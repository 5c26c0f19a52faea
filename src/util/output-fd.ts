import { constants, openSync, statSync } from 'node:fs';

/**
 * Opens the file a detached child (haproxy, keepalived) writes its output to. A regular file is
 * opened for appending (created 0600). A FIFO the agent drains (`admin.accessLog: file`) is
 * opened read-write and non-blocking: the child then holds a reader of its own pipe, so it never
 * gets SIGPIPE or EPIPE while no agent reads (an agent restart), and a full pipe makes a write fail
 * with EAGAIN instead of blocking haproxy's or keepalived's event loop (HAProxy counts such a line
 * in `DroppedLogs`). The caller closes the fd after the spawn.
 */
export function openChildOutput(path: string): number {
  let fifo = false;
  try {
    fifo = statSync(path).isFIFO();
  } catch {
    fifo = false;
  }
  return fifo ? openSync(path, constants.O_RDWR | constants.O_NONBLOCK) : openSync(path, 'a', 0o600);
}
