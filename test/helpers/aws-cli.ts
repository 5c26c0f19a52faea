// Debian's aws CLI v2 (/usr/bin/aws) run against a lab endpoint, isolated from the machine's own
// aws configuration (empty config files, a private HOME, no IMDS).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const AWS_CLI = '/usr/bin/aws';

/** `skip` for node:test when the CLI is missing. */
export const awsCliSkip: string | false = existsSync(AWS_CLI) ? false : `${AWS_CLI} is not installed (apt install awscli)`;

export interface CliResult { readonly code: number; readonly stdout: string; readonly stderr: string }
export interface CliCredentials { readonly key: string; readonly secret: string; readonly token?: string }

export interface AwsCli {
  run(args: readonly string[], creds?: CliCredentials): Promise<CliResult>;
  /** The private HOME (a scratch directory for files the test passes as `file://`). */
  readonly home: string;
  close(): Promise<void>;
}

/** A CLI runner with `creds` as the default credentials and `region` as AWS_DEFAULT_REGION. */
export async function awsCli(options: { region: string; creds: CliCredentials }): Promise<AwsCli> {
  const home = await mkdtemp(join(tmpdir(), 'olb-aws-cli-'));
  await writeFile(join(home, 'config'), '');
  await writeFile(join(home, 'credentials'), '');
  const run = (args: readonly string[], creds = options.creds): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      execFile(AWS_CLI, [...args], {
        signal: AbortSignal.timeout(60_000),
        env: {
          PATH: '/usr/bin:/bin', HOME: home, AWS_CONFIG_FILE: join(home, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
          AWS_ACCESS_KEY_ID: creds.key, AWS_SECRET_ACCESS_KEY: creds.secret, ...(creds.token === undefined ? {} : { AWS_SESSION_TOKEN: creds.token }),
          AWS_DEFAULT_REGION: options.region, AWS_EC2_METADATA_DISABLED: 'true', AWS_MAX_ATTEMPTS: '1', AWS_RETRY_MODE: 'standard', AWS_PAGER: '',
        },
      }, (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') reject(new Error(`${AWS_CLI} did not run: ${error.message}`, { cause: error }));
        else resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
      });
    });
  return { run, home, close: () => rm(home, { recursive: true, force: true }) };
}
