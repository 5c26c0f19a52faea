/**
 * The CLI's entry point in the single executable (`/usr/bin/overlay-lb` from the .deb): esbuild
 * bundles it with everything it imports into one CommonJS file, which scripts/build-deb.sh stores
 * in the executable as an asset; the executable's main script (sea-agent-main.ts) runs it for
 * every command but `agent`. `overlay-lb ARGS` runs the CLI; `overlay-lb --own-program NAME
 * ARGS` runs one of the lab's helper processes, which a build runs as `node dist/src/lab/NAME.js`
 * (see `util/own-program.ts`).
 */
import { runCliProcess } from './main.js';
import { HELPER_PROGRAMS, OWN_PROGRAM_FLAG } from '../util/own-program.js';

// Imported when run, like the CLI's commands (main.ts): the agent does not load the lab's helpers.
const helpers: Readonly<Record<(typeof HELPER_PROGRAMS)[number], (argv: readonly string[]) => Promise<void>>> = {
  'netns-relay': async (argv) => (await import('../lab/netns-relay.js')).main(argv),
  'backend-server': async (argv) => (await import('../lab/backend-server.js')).main(argv),
  'demo-probe': async (argv) => (await import('../lab/demo-probe.js')).main(argv),
  'vip-request': async (argv) => (await import('../lab/vip-request.js')).main(argv),
};

// In a single executable, process.argv is [executable, executable, ...arguments].
const args = process.argv.slice(2);
if (args[0] === OWN_PROGRAM_FLAG) {
  const name = args[1] ?? '';
  const helper = (helpers as Record<string, ((argv: readonly string[]) => Promise<void>) | undefined>)[name];
  if (helper === undefined) {
    process.stderr.write(`overlay-lb: ${OWN_PROGRAM_FLAG} ${JSON.stringify(name)} is not a helper program; known: ${HELPER_PROGRAMS.join(', ')}\n`);
    process.exitCode = 64;
  } else {
    helper(args.slice(2)).catch((error: unknown) => {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(1);
    });
  }
} else {
  void runCliProcess(args);
}
