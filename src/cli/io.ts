/** All terminal output goes through one injected object, so commands are testable in-process. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout is a terminal (colour, progress). */
  readonly isTty: boolean;
}

export function processIo(): CliIo {
  return {
    out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
    isTty: process.stdout.isTTY,
  };
}

/** Collects output in memory (tests). */
export function memoryIo(): CliIo & { readonly stdout: string[]; readonly stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, isTty: false, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

/** Exit statuses of the CLI. */
export const EXIT = { ok: 0, failure: 1, invalid: 2, usage: 64 } as const;
