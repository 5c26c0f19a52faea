import { spawn } from 'node:child_process';
import { SystemError, UserError } from './errors.js';

export interface RunOptions {
  readonly signal?: AbortSignal;
  /** Kill the process after this long. @default 30000 */
  readonly timeoutMs?: number;
  readonly input?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program with an argument vector (never through a shell, so no value is ever
 * interpolated into a command line) and collects its output.
 *
 * @throws UserError TOOL_MISSING when the program does not exist.
 * @throws SystemError INTERNAL when it cannot be spawned for another reason.
 */
export async function runCommand(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [program, ...args] = argv;
  if (program === undefined) throw new SystemError('INTERNAL', 'runCommand: empty argv');
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      signal,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (options.input !== undefined) child.stdin?.end(options.input);
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        reject(new UserError('TOOL_MISSING', `${program} is not installed (or not on PATH); install it with scripts/install-deps.sh`, { cause: err }));
      } else if (err.name === 'AbortError') {
        reject(new SystemError('INTERNAL', `${program} was stopped: ${timeout.aborted ? 'timed out' : 'aborted'}`, { cause: err, retryable: true }));
      } else {
        reject(new SystemError('INTERNAL', `could not run ${program}: ${err.message}`, { cause: err }));
      }
    });
    child.on('close', (code, sig) => resolve({ code, signal: sig, stdout, stderr }));
  });
}
