/**
 * Runs overlay-lb's own programs (the CLI, the lab's helper processes) as child processes, the
 * same way from a build (`node dist/src/lab/netns-relay.js ...`) and from the single executable
 * (`overlay-lb --own-program netns-relay ...`). A single executable application has no script
 * files to hand to `process.execPath`: its `process.execPath` is the executable itself, which
 * runs the bundled CLI; the hidden `--own-program NAME` argument selects a helper instead.
 */
import { isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';

/** The programs a process of overlay-lb may start of itself. */
export type OwnProgram = 'cli' | 'netns-relay' | 'backend-server' | 'demo-probe' | 'vip-request';

/** The hidden first argument of the single executable that runs a helper program. */
export const OWN_PROGRAM_FLAG = '--own-program';

/** Each program's compiled script, relative to this file in dist/src/util. */
const SCRIPTS: Readonly<Record<OwnProgram, string>> = {
  cli: '../cli/main.js',
  'netns-relay': '../lab/netns-relay.js',
  'backend-server': '../lab/backend-server.js',
  'demo-probe': '../lab/demo-probe.js',
  'vip-request': '../lab/vip-request.js',
};

/** Whether this process is the single executable (the packaged `/usr/bin/overlay-lb`). */
export function runningAsSingleExecutable(): boolean {
  return isSea();
}

/** The names `--own-program` accepts (the CLI part is the executable's ordinary use). */
export const HELPER_PROGRAMS: readonly Exclude<OwnProgram, 'cli'>[] = ['netns-relay', 'backend-server', 'demo-probe', 'vip-request'];

/**
 * The argument vector that runs `program` with `args` on the runtime of this process: from a
 * build, the compiled script beside this one; from the single executable, the executable itself.
 */
export function ownProgramArgv(program: OwnProgram, args: readonly string[]): string[] {
  if (runningAsSingleExecutable()) {
    return program === 'cli' ? [process.execPath, ...args] : [process.execPath, OWN_PROGRAM_FLAG, program, ...args];
  }
  return [process.execPath, ownProgramScript(program), ...args];
}

/** The compiled script of a program in a build (dist/src/...); not meaningful in the single executable. */
export function ownProgramScript(program: OwnProgram): string {
  return fileURLToPath(new URL(SCRIPTS[program], import.meta.url));
}

/**
 * Whether the module at `moduleUrl` (its `import.meta.url`) is the script this process was
 * started with (`node dist/src/lab/NAME.js`). Always false in the single executable, whose
 * bundled modules all share one URL; it runs its helpers through `--own-program` instead.
 */
export function isMainScript(moduleUrl: string): boolean {
  if (runningAsSingleExecutable()) return false;
  const script = process.argv[1];
  return script !== undefined && moduleUrl === new URL(`file://${script}`).href;
}
