/**
 * A bounded CPU hog for tests that must hold on a busy node: busy loops that saturate the
 * machine's cores beside the test, each bounded in time by `timeout(1)` (so a crashed test
 * process cannot leave one behind) and stopped by PID when the test ends.
 *
 * Two ways in:
 * - a test that is about contention starts one itself: `const hog = startCpuHog({...}); t.after(() => hog.stop())`;
 * - any e2e or switchover test runs under one when the harness switch is on:
 *   `OVERLAY_LB_TEST_CPU_HOG=1` (see `cpuHogRequested`), e.g.
 *   `OVERLAY_LB_TEST_CPU_HOG=1 node --test --test-concurrency=1 'dist/test/e2e/*.test.js' 'dist/test/cluster-ops/*.test.js' 'dist/test/handoff/*.test.js'`
 *   (`startCpuHogIfRequested`, called by test/e2e/fixture.ts and the namespace test of test/handoff).
 *
 * The loops run in the host namespace with the lowest priority a test can ask for (nice 0, like
 * the lab's processes: a hog at nice 19 would hardly disturb anything).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';

/** The harness switch: run e2e and switchover tests beside a CPU hog. */
export const CPU_HOG_ENV = 'OVERLAY_LB_TEST_CPU_HOG';

/** True when the harness switch `OVERLAY_LB_TEST_CPU_HOG=1` is set. */
export function cpuHogRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[CPU_HOG_ENV] === '1';
}

export interface CpuHogOptions {
  /** Busy loops to run. @default the machine's available parallelism (every core saturated) */
  readonly loops?: number;
  /** Upper bound on each loop's life, enforced by timeout(1) even if this process dies. @default 900 s */
  readonly maxSeconds?: number;
}

export interface CpuHog {
  /** PIDs of the `timeout` processes that own the loops. */
  readonly pids: readonly number[];
  /** Stops every loop (by PID) and waits until they are gone. Idempotent. */
  stop(): Promise<void>;
}

/** Starts busy loops that saturate the CPUs until `stop()` or `maxSeconds`. */
export function startCpuHog(options: CpuHogOptions = {}): CpuHog {
  const loops = options.loops ?? availableParallelism();
  const maxSeconds = options.maxSeconds ?? 900;
  const children: ChildProcess[] = [];
  for (let i = 0; i < loops; i++) {
    // timeout(1) kills the shell loop after maxSeconds, also when the test process was killed.
    const child = spawn('timeout', ['--signal=KILL', String(maxSeconds), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
    child.on('error', () => undefined);
    children.push(child);
  }
  let stopped: Promise<void> | undefined;
  return {
    pids: children.flatMap((c) => (c.pid === undefined ? [] : [c.pid])),
    stop: () => {
      stopped ??= Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              // timeout(1) forwards TERM to the loop it runs.
              c.kill('SIGTERM');
            }),
        ),
      ).then(() => undefined);
      return stopped;
    },
  };
}

/**
 * The harness switch for one test: when `OVERLAY_LB_TEST_CPU_HOG=1`, starts a hog now (before the
 * caller builds anything) and returns it; otherwise null. The caller stops it in the same
 * `t.after` hook that tears its namespaces down, after the teardown, so the hog lasts from before
 * the lab starts until cleanup and is stopped also when the test fails (and by timeout(1) at the
 * latest, should the test process be killed).
 */
export function startCpuHogIfRequested(t: { diagnostic(message: string): void }, env: NodeJS.ProcessEnv = process.env): CpuHog | null {
  if (!cpuHogRequested(env)) return null;
  const hog = startCpuHog();
  t.diagnostic(`${CPU_HOG_ENV}=1: ${hog.pids.length} busy loops (pids ${hog.pids.join(', ')}) beside this test`);
  return hog;
}
