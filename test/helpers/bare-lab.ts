// What the tests of instances launched through the lab's API share: a bare lab (`lab up --bare`)
// with its cleanup and admin clients, polling observable state, the processes an instance
// started, and an instance profile for a role. One copy, so the tests differ only in what they test.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DescribeInstancesCommand, EC2Client, GetConsoleOutputCommand } from '@aws-sdk/client-ec2';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { labFiles } from '../../src/lab/controller.js';
import { instanceLogDir, terminatedLogDir } from '../../src/lab/instance-host.js';
import { startLab, stopLab, type LabHandle } from '../../src/lab/lab.js';
import { EC2_TRUST_POLICY } from '../../src/cloud/aws/iam-policy.js';
import { leftovers, type MachineLeftovers } from './lab-leftovers.js';

/** The spec the bare labs are planned from (its VPC, subnets and clients; no LB nodes run). */
export const DEMO_SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));

/** `skip` for a test that builds a lab: namespaces need root. */
export const needsRoot: string | false = process.getuid?.() === 0 ? false : 'needs root';

/**
 * Polls `read` until `done` holds and returns that value; throws naming `what` and the last value
 * read at the deadline. The deadline is generous on purpose: the machine is shared and noisy, so
 * tests wait on state instead of asserting on time.
 */
export async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await sleep(200);
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/**
 * Processes (other than this one) whose command line mentions `marker`, as `pid argv...`: what an
 * instance's user-data started, to check that a stop, terminate or `lab down` ended it.
 */
export async function processesMentioning(marker: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker)) out.push(`${pid} ${cmdline.replaceAll('\0', ' ')}`);
  }
  return out;
}

/** A running bare lab and what a test drives it with. */
export interface BareLab {
  readonly lab: LabHandle;
  /** The lab's name prefix (namespaces, links and processes carry it). */
  readonly prefix: string;
  readonly stateDir: string;
  readonly stateFile: string;
  readonly region: string;
  /** EC2 and IAM clients with the lab's admin credentials, no retries (an error is the answer). */
  readonly ec2: EC2Client;
  readonly iam: IAMClient;
  /** What the machine held before the lab started, to compare with `leftovers()` after `lab down`. */
  readonly before: MachineLeftovers;
  /** What the machine holds now that a lab with this prefix could have left behind. */
  leftovers(): Promise<MachineLeftovers>;
  /** A new temporary directory removed when the test ends (for user-data's files). */
  tempDir(name: string): Promise<string>;
  /**
   * For a failing test's message: every instance the API describes (any state, terminated ones
   * too), its console's tail and its agent log's tail (a terminated instance's /var/log is kept
   * by the lab until it is down).
   */
  instanceLogs(options?: { readonly agentLogChars?: number }): Promise<string>;
}

/**
 * Starts a bare lab (`lab up --bare`: the VPC and its API, no LB nodes) from {@link DEMO_SPEC} with
 * a prefix unique to this process and `tag`, and registers its teardown on `t` so that it also runs
 * when an assertion fails: `lab down` by the state file, the state directory and every
 * {@link BareLab.tempDir} removed, the in-process controller closed, the clients destroyed. A
 * `t.after` registered before this call runs before the teardown.
 */
export async function startBareLab(t: TestContext, options: { readonly tag: string }): Promise<BareLab> {
  const stateDir = await mkdtemp(join(tmpdir(), `${options.tag}-lab-`));
  const prefix = `${options.tag}${process.pid}`.slice(0, 12);
  const stateFile = join(stateDir, `${prefix}state.json`);
  const dirs: string[] = [];
  t.after(async () => {
    await stopLab(stateFile, { signal: AbortSignal.timeout(60_000) });
    await rm(stateDir, { recursive: true, force: true });
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const before = await leftovers(prefix, stateDir);
  const lab = await startLab({ specFile: DEMO_SPEC, prefix, stateDir, bare: true, signal: AbortSignal.timeout(120_000) });
  // Also when an assertion fails: the controller runs in this process.
  t.after(() => lab.close());
  const region = lab.adminCredentials.region;
  const config = { region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials };
  const ec2 = new EC2Client(config);
  const iam = new IAMClient(config);
  t.after(() => {
    ec2.destroy();
    iam.destroy();
  });
  return {
    lab, prefix, stateDir, stateFile, region, ec2, iam, before,
    leftovers: () => leftovers(prefix, stateDir),
    async instanceLogs(o = {}) {
      const out: string[] = [];
      const labDir = labFiles(stateFile, prefix).dir;
      const all = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
      for (const i of all) {
        const id = i.InstanceId ?? '';
        const node = i.Tags?.find((tag) => tag.Key === 'overlay-lb:node')?.Value ?? i.Tags?.find((tag) => tag.Key === 'Name')?.Value ?? '?';
        const text = Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id })).catch(() => ({ Output: '' }))).Output ?? '', 'base64').toString('utf8');
        out.push(`--- ${node} ${id} ${i.State?.Name ?? ''}: console\n${text.slice(-3000)}`);
        for (const dir of [instanceLogDir(labDir, id), terminatedLogDir(labDir, id)]) {
          const log = await readFile(join(dir, 'overlay-lb', 'agent.log'), 'utf8').catch(() => '');
          if (log !== '') out.push(`--- ${node} ${id}: agent.log\n${log.slice(-(o.agentLogChars ?? 12_000))}`);
        }
      }
      return out.join('\n');
    },
    async tempDir(name) {
      const dir = await mkdtemp(join(tmpdir(), `${options.tag}-${name}-`));
      dirs.push(dir);
      return dir;
    },
  };
}

/**
 * Creates the role `name` that EC2 may assume ({@link EC2_TRUST_POLICY}) with the inline policy
 * `policy`, and the instance profile `name` holding it: what RunInstances' IamInstanceProfile names.
 */
export async function createInstanceRole(iam: IAMClient, options: { readonly name: string; readonly policyName: string; readonly policy: unknown }): Promise<void> {
  await iam.send(new CreateRoleCommand({ RoleName: options.name, AssumeRolePolicyDocument: JSON.stringify(EC2_TRUST_POLICY) }));
  await iam.send(new PutRolePolicyCommand({ RoleName: options.name, PolicyName: options.policyName, PolicyDocument: JSON.stringify(options.policy) }));
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: options.name }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: options.name, RoleName: options.name }));
}
