/**
 * Every command of the real CLI stops on SIGTERM and SIGINT while it waits: the process exits
 * with 128 + the signal and one line saying so, no stack trace. The wait is real: the spec is a
 * FIFO that the test holds open without writing, so the command is blocked reading its input; the
 * test knows it is (its non-blocking open for writing succeeds only once the CLI has the FIFO open
 * for reading). No timing threshold: the test waits for the exit with a deadline shorter than the
 * CLI's own last-resort exit (60 s after the signal), so a command that ignored the signal fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { STACK_FRAME_RE, startCli } from './cli-process.js';
import { timeoutSignal } from '../../src/util/abort.js';

/** Opens the FIFO for writing once a reader has it open (ENXIO until then). */
async function waitForReader(fifo: string, signal: AbortSignal): Promise<number> {
  for (;;) {
    signal.throwIfAborted();
    try {
      return openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    }
    await sleep(20, undefined, { signal });
  }
}

void test('every command stops on SIGTERM or SIGINT while it waits for its input', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-cli-signals-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const runDir = join(dir, 'run');
  await mkdir(runDir);
  const commands: { name: string; args: (spec: string) => string[] }[] = [
    { name: 'validate', args: (s) => ['validate', s] },
    { name: 'render', args: (s) => ['render', s, '--node', 'lb-a', '--out', join(dir, 'out')] },
    { name: 'explain', args: (s) => ['explain', s, '--path', '/'] },
    { name: 'apply', args: (s) => ['apply', s, '--node', 'lb-a', '--run-dir', runDir] },
    { name: 'agent', args: (s) => ['agent', '--spec', s, '--node', 'lb-a', '--run-dir', runDir] },
    { name: 'switchover', args: (s) => ['switchover', '--spec', s, '--to', 'lb-b', '--run-dir-template', join(dir, '{node}')] },
    { name: 'status', args: (s) => ['status', '--spec', s, '--run-dir-template', join(dir, '{node}')] },
    { name: 'lab', args: (s) => ['lab', 'up', '--spec', s, '--prefix', 'olbsig-', '--state-dir', join(dir, 'lab')] },
  ];
  let i = 0;
  for (const c of commands) {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const fifo = join(dir, `spec-${i++}.yaml`);
      execFileSync('mkfifo', [fifo]);
      const deadline = timeoutSignal(30_000);
      const cli = startCli(c.args(fifo), { deadline });
      let writer: number | undefined;
      try {
        // GIVEN the command blocked reading a spec that never comes
        writer = await waitForReader(fifo, deadline);
        // WHEN it receives the signal
        cli.child.kill(sig);
        // THEN it exits by itself, with 128 + the signal and one line saying why
        const r = await cli.exited;
        const what = `overlay-lb ${c.name} after ${sig}: code ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
        assert.equal(r.signal, null, what);
        assert.equal(r.code, sig === 'SIGTERM' ? 143 : 130, what);
        assert.match(r.stderr, new RegExp(`^overlay-lb ${c.name}: stopped by ${sig}\\n$`), what);
        assert.doesNotMatch(r.stderr, STACK_FRAME_RE, what);
      } finally {
        if (writer !== undefined) closeSync(writer);
        cli.child.kill('SIGKILL');
        await cli.exited.catch(() => undefined);
      }
    }
  }
});
