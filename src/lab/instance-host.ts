/**
 * The lab's instance host: makes the instances launched through the EC2 API (RunInstances) real.
 * It follows the model's `instance-state` events and completes each transition:
 * - pending (first boot): the instance's namespace on its subnet's bridge with its ENI (built as
 *   `lab up` builds its nodes, recorded in the state file so `lab down` removes it), the data
 *   path told about the ENI (routes, source/destination check, Elastic IPs), then `running`, then
 *   the user-data run once as root inside the namespace, as cloud-init runs it (`#!`, gzip, MIME
 *   multi-part, `#cloud-config` write_files/runcmd: user-data-format.ts), its
 *   output appended to the console log (GetConsoleOutput), in the instance's own view of the
 *   machine (MACHINE_VIEW_DIRS: overlays on /etc, /usr, /var, /root and its own /run, kept in
 *   `instances/<id>/`), which everything it starts inherits: two instances installing the
 *   package or writing /etc/overlay-lb never collide, and the host stays unchanged;
 * - stopping: every process in the namespace gets SIGTERM (SIGKILL after a grace period), the
 *   ENI's link goes down, then `stopped`; pending again (StartInstances): the link comes up,
 *   `running` (user-data is not run again, as cloud-init runs it once per instance);
 * - shutting-down: the processes are stopped as for a stop (their open connections end as a
 *   shutting-down machine ends them), the namespace is removed (its veth with it) and the
 *   instance's directory (its mounts ended with its processes), then `terminated` (the model
 *   deletes the ENI).
 * Instance processes are the processes in the instance's namespace (`ip netns pids`): whatever
 * the user-data starts, also in the background, is tracked without a pid file.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { LabCloud, InstanceData, InstanceStateName } from './ec2/state.js';
import type { LabInstance } from './plan.js';
import { apiInstanceNamespace, type Lab } from './topology.js';
import { execIn, ipIn, listNamespaces, readProcessStartTime, runCommand, stopNamespaceProcesses } from './netns.js';
import { SystemError } from '../util/errors.js';
import { userDataScript } from './user-data-format.js';

/** What a user-data script finds in its environment (docs/lab-ec2-api.md, "Instances"). */
export const USER_DATA_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  /** Set only in the lab: the machine is the lab's host, whose software is installed already. */
  OVERLAY_LB_LAB: '1',
  /** The lab's AWS endpoint, as AWS_ENDPOINT_URL (honoured by the SDKs and by aws-cli >= 2.13). */
  AWS_ENDPOINT_URL: 'http://169.254.169.250',
} as const;

/** Where the user-data script is inside an instance (cloud-init's path for the first script part). */
export const USER_DATA_SCRIPT = '/var/lib/cloud/instance/scripts/part-001';

/**
 * The directories of the host that an instance sees as its own: an overlay on each (the host's
 * directory below, the instance's changes above, kept in `instances/<id>/fs/<dir>/`), so a
 * package installed by `apt-get install`/`dpkg -i`, /etc/overlay-lb, /var/lib/dpkg and
 * /var/log/overlay-lb are the instance's and the host's stay untouched. /run is the instance's own
 * empty directory (`instances/<id>/run`), as a booted machine's /run is empty.
 */
export const MACHINE_VIEW_DIRS = ['etc', 'usr', 'var', 'root'] as const;

/** The lab's directory of one API instance (user-data, console log, its machine view). */
export function instanceDir(labDir: string, instanceId: string): string {
  return join(labDir, 'instances', instanceId);
}

/** An instance's /var/log as it writes it (the upper layer of its /var view). */
export function instanceLogDir(labDir: string, instanceId: string): string {
  return join(instanceDir(labDir, instanceId), 'fs', 'var', 'upper', 'log');
}

/**
 * Where the /var/log of a terminated instance is kept (the instance's own files are gone), until
 * the lab's directory is removed: read by tests that print the agents' logs when they fail.
 */
export function terminatedLogDir(labDir: string, instanceId: string): string {
  return join(labDir, 'terminated', instanceId, 'log');
}

/**
 * Creates the upper and work directories of an instance's view under `dir` (its instance
 * directory). Refuses a lab directory the overlays could not use: one inside an overlaid
 * directory (overlayfs refuses overlapping layers) or with a character that ends a mount option.
 */
async function prepareMachineView(dir: string): Promise<{ readonly varUpper: string }> {
  const absolute = resolve(dir);
  const overlapping = MACHINE_VIEW_DIRS.find((d) => absolute === `/${d}` || absolute.startsWith(`/${d}/`));
  if (overlapping !== undefined || /[,:\\\s]/.test(absolute)) {
    throw new SystemError('LAB_COMMAND_FAILED', `the lab directory ${JSON.stringify(absolute)} cannot hold an instance's file system view: it must not lie under ${MACHINE_VIEW_DIRS.map((d) => `/${d}`).join(', ')} nor contain , : \\ or spaces; start the lab with another --state-dir (the default /run/overlay-lb-lab works)`);
  }
  for (const d of MACHINE_VIEW_DIRS) {
    await mkdir(join(absolute, 'fs', d, 'upper'), { recursive: true, mode: 0o755 });
    await mkdir(join(absolute, 'fs', d, 'work'), { recursive: true, mode: 0o700 });
  }
  await mkdir(join(absolute, 'run', 'lock'), { recursive: true, mode: 0o755 });
  return { varUpper: join(absolute, 'fs', 'var', 'upper') };
}

/**
 * A fixed shell (no value is interpolated: the instance directory and the command are its
 * positional parameters) that mounts an instance's view in a private mount namespace, then
 * execs the command in it. `ip netns exec` already gives the command a mount namespace of its own
 * (slave to the host's); `unshare --propagation private` makes sure no mount made inside it
 * ever reaches the host. The mounts end with the namespace, when the instance's last process does.
 */
const MOUNT_VIEW = [
  'set -e',
  'd=$1',
  'shift',
  `for p in ${MACHINE_VIEW_DIRS.join(' ')}; do`,
  '  mount -t overlay overlay-lb-lab -o "lowerdir=/$p,upperdir=$d/fs/$p/upper,workdir=$d/fs/$p/work" "/$p"',
  'done',
  'mount --bind "$d/run" /run',
  'exec "$@"',
].join('\n');

/** `argv` run in the instance's view (see MOUNT_VIEW), for `execIn`. */
function machineViewArgv(dir: string, argv: readonly string[]): string[] {
  return ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', MOUNT_VIEW, 'overlay-lb-lab-view', resolve(dir), ...argv];
}

/** First routing realm (and Elastic IP conntrack zone) of API instances; the plan's take 1-255. */
const REALM_BASE = 1000;

export interface InstanceHostLogger {
  info(fields: Readonly<Record<string, unknown>>, message: string): void;
  error(fields: Readonly<Record<string, unknown>>, message: string): void;
}

export interface InstanceHostOptions {
  readonly cloud: LabCloud;
  readonly lab: Lab;
  /** The lab directory: user-data scripts and console logs go to `instances/<id>/` in it. */
  readonly dir: string;
  /** Aborting stops following the model (running instances stay until `lab down`). */
  readonly signal: AbortSignal;
  readonly log?: InstanceHostLogger;
  /** How long a stopping instance's processes get after SIGTERM before SIGKILL. @default 3000 */
  readonly shutdownGraceMs?: number;
}

export interface InstanceHost {
  /** Resolves when every transition started so far is complete. */
  settled(): Promise<void>;
  /** Stops following the model (does not stop instances). */
  close(): Promise<void>;
}

/** The plan-shaped description of an API instance (its namespace, veth, realm are derived from its id). */
export function apiLabInstance(lab: Lab, cloud: LabCloud, instance: InstanceData): LabInstance | undefined {
  const eni = Object.values(cloud.view().networkInterfaces).find((e) => e.attachment?.instanceId === instance.instanceId && e.attachment.deviceIndex === 0);
  const subnet = lab.plan.subnets.find((s) => s.id === instance.subnetId);
  if (eni === undefined || subnet === undefined) return undefined;
  const n = Number.parseInt(instance.instanceId.slice(2), 16);
  if (!Number.isSafeInteger(n) || REALM_BASE + n > 0xffff) {
    throw new SystemError('LAB_COMMAND_FAILED', `instance ${instance.instanceId}: the lab runs at most ${0xffff - REALM_BASE} API-launched instances per lab; run \`lab down\` and \`lab up\``);
  }
  return {
    name: instance.instanceId, role: 'instance', instanceId: instance.instanceId, az: subnet.az,
    namespace: apiInstanceNamespace(lab.plan, instance.instanceId), routerPort: `q${n.toString(16)}`,
    eni: { id: eni.networkInterfaceId, mac: eni.mac, privateIp: eni.privateIp, subnetId: subnet.id, sourceDestCheck: eni.sourceDestCheck, realm: REALM_BASE + n },
    vipOnLoopback: false, listeners: [],
  };
}

/** Whether an instance was launched through the API (the seeded ones of `lab up` have no type). */
const launchedByApi = (instance: InstanceData): boolean => instance.instanceType !== undefined;

/**
 * Starts following the cloud's instances: adopts the API instances a previous controller left
 * (their namespaces exist), then handles every transition.
 */
export function startInstanceHost(options: InstanceHostOptions): InstanceHost {
  const { cloud, lab, log, signal } = options;
  const router = lab.plan.router.namespace;
  const grace = options.shutdownGraceMs ?? 3000;
  const detach = cloud.attachInstanceHost();
  const queues = new Map<string, Promise<void>>();
  const tails = new Map<string, { path: string; offset: number }>();
  let all: Promise<void>[] = [];

  const console_ = (instanceId: string, line: string): void => cloud.appendConsoleOutput(instanceId, `${line}\n`);
  const stamp = (): string => new Date(cloud.clock()).toUTCString();

  const readTailOnce = async (instanceId: string): Promise<void> => {
    const tail = tails.get(instanceId);
    if (tail === undefined) return;
    const handle = await open(tail.path, 'r').catch(() => null);
    if (handle === null) return;
    try {
      const { size } = await handle.stat();
      if (size <= tail.offset) return;
      const length = Math.min(size - tail.offset, 256 * 1024);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, tail.offset);
      tail.offset += bytesRead;
      cloud.appendConsoleOutput(instanceId, buffer.subarray(0, bytesRead).toString('utf8'));
    } finally {
      await handle.close();
    }
  };
  // One read at a time per instance (the poll, the script's exit and a shutdown all read): two reads
  // from the same offset would append the same output twice.
  const reads = new Map<string, Promise<void>>();
  const readTail = (instanceId: string): Promise<void> => {
    const next = (reads.get(instanceId) ?? Promise.resolve()).then(() => readTailOnce(instanceId));
    reads.set(instanceId, next.catch(() => undefined));
    return next;
  };
  // The console log follows the user-data's output as it is written (AWS updates it shortly after, too).
  const poll = setInterval(() => {
    for (const id of tails.keys()) void readTail(id).catch(() => undefined);
  }, 500);
  poll.unref();

  const runUserData = async (instance: InstanceData, target: LabInstance): Promise<void> => {
    const data = instance.userData;
    if (data === undefined || data === null) return;
    // #!, gzip, MIME multi-part, #cloud-config write_files/runcmd: one script (src/lab/user-data-format.ts).
    const { script: text, notes } = userDataScript(Buffer.from(data, 'base64'));
    for (const note of notes) console_(instance.instanceId, note);
    if (text === null) return;
    const dir = instanceDir(options.dir, instance.instanceId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const view = await prepareMachineView(dir);
    const output = join(dir, 'console.log');
    await writeFile(join(dir, 'user-data'), text, { mode: 0o600 });
    // Where cloud-init keeps it, inside the instance's own /var (the lab directory is hidden there
    // when it lies under /run).
    await mkdir(join(view.varUpper, 'lib/cloud/instance/scripts'), { recursive: true, mode: 0o700 });
    await writeFile(join(view.varUpper, 'lib/cloud/instance/scripts/part-001'), text, { mode: 0o700 });
    await writeFile(output, '', { mode: 0o600 });
    tails.set(instance.instanceId, { path: output, offset: 0 });
    console_(instance.instanceId, `Cloud-init v. lab running 'modules:final' at ${stamp()}.`);
    const env = Object.entries({ ...USER_DATA_ENV, OVERLAY_LB_LAB_INSTANCE_ID: instance.instanceId }).map(([k, v]) => `${k}=${v}`);
    // No shell runs the script: its own #! line picks its interpreter, as cloud-init's scripts-user
    // does; the fixed shell of machineViewArgv only mounts the instance's view, then execs it.
    const argv = execIn(target.namespace, machineViewArgv(dir, ['env', '-i', ...env, USER_DATA_SCRIPT]));
    const fd = openSync(output, 'a', 0o600);
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], cwd: '/' });
    closeSync(fd);
    // Listen before any await: a short script can exit while its process is being recorded.
    const exited = new Promise<{ code: number | null; killedBy: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, killedBy) => resolve({ code, killedBy }));
    });
    const started = performance.now();
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid ?? -1));
      child.once('error', reject);
    });
    child.unref();
    await lab.recordProcess({ label: `user-data ${instance.instanceId}`, namespace: target.namespace, argv, pid, startTime: await readProcessStartTime(pid, { signal }) }, { signal });
    log?.info({ instanceId: instance.instanceId, pid }, 'lab instance user-data started');
    void exited.then(({ code, killedBy }) => {
      void readTail(instance.instanceId).catch(() => undefined).then(() => {
        if (code !== 0) {
          console_(instance.instanceId, `Cloud-init v. lab: the user-data script ${killedBy === null ? `exited with status ${code}` : `was killed by ${killedBy}`}: Failed to run module scripts-user`);
        }
        console_(instance.instanceId, `Cloud-init v. lab finished at ${stamp()}. Datasource DataSourceEc2.  Up ${((performance.now() - started) / 1000).toFixed(2)} seconds`);
      });
    });
  };

  /**
   * Every process of the namespace stopped as a shutdown stops them; for a terminate also those
   * started meanwhile (its namespace goes: one left would keep it, and the address, alive).
   */
  const stopProcesses = async (namespace: string, rounds: number): Promise<void> => {
    const { left } = await stopNamespaceProcesses(namespace, { signal, graceMs: grace, rounds });
    if (left.length > 0) log?.error({ namespace, pids: left }, `lab instance processes still running after ${rounds} round(s) of SIGTERM and SIGKILL`);
  };

  /**
   * Brings the kernel to the model's state for a new instance's ENI: what the API changed while the
   * instance was pending (ModifyInstanceAttribute SourceDestCheck, a CreateRoute to the ENI right
   * after RunInstances, as `up` does) reached the data path before it knew the ENI and could not
   * be applied then.
   */
  const syncEni = async (target: LabInstance): Promise<void> => {
    const view = cloud.view();
    if (view.networkInterfaces[target.eni.id]?.sourceDestCheck ?? target.eni.sourceDestCheck) {
      await lab.datapath.setSourceDestCheck({ networkInterfaceId: target.eni.id, enabled: true }, { signal });
    }
    for (const table of Object.values(view.routeTables)) {
      for (const route of table.routes) {
        if (route.target.kind !== 'eni' || route.target.networkInterfaceId !== target.eni.id) continue;
        const event = { type: 'route-changed', routeTableId: table.routeTableId, destinationCidrBlock: route.destinationCidrBlock, target: { networkInterfaceId: target.eni.id } } as const;
        // As the controller treats a data path change that fails: logged, the boot goes on.
        await lab.datapath.applyEvent(event, { signal }).catch((error: unknown) => log?.error({ event, error: (error as Error).message }, 'lab data path change failed'));
      }
    }
  };

  const boot = async (instance: InstanceData): Promise<void> => {
    const target = apiLabInstance(lab, cloud, instance);
    if (target === undefined) throw new SystemError('INTERNAL', `instance ${instance.instanceId} has no primary ENI in a lab subnet`);
    const first = !(await listNamespaces({ signal })).includes(target.namespace);
    if (first) {
      console_(instance.instanceId, `lab: booting ${instance.instanceId} (${instance.instanceType ?? ''}, ${target.eni.privateIp} in ${instance.subnetId}) at ${stamp()}`);
      await lab.addInstance(target, { signal });
    } else {
      await runCommand(ipIn(router, ['link', 'set', target.routerPort, 'up']), { signal });
    }
    lab.datapath.addInstance(target);
    if (first) await syncEni(target);
    cloud.completeInstanceTransition(instance.instanceId, 'pending');
    log?.info({ instanceId: instance.instanceId, namespace: target.namespace }, 'lab instance running');
    if (first) await runUserData(instance, target);
  };

  const shutdown = async (instance: InstanceData, from: 'stopping' | 'shutting-down'): Promise<void> => {
    const target = apiLabInstance(lab, cloud, instance);
    if (target !== undefined) {
      await stopProcesses(target.namespace, from === 'stopping' ? 1 : 5);
      await readTail(instance.instanceId).catch(() => undefined);
      if (from === 'stopping') {
        await runCommand(ipIn(router, ['link', 'set', target.routerPort, 'down']), { signal, allowFailure: true });
      } else {
        tails.delete(instance.instanceId);
        reads.delete(instance.instanceId);
        await runCommand(['ip', 'netns', 'del', target.namespace], { signal, allowFailure: true });
        // Its processes are gone, so is its mount namespace with the overlays: its files go too
        // (the console log is in the model already), but its /var/log stays in the lab's
        // directory (terminatedLogDir) for whoever debugs a test afterwards.
        const kept = terminatedLogDir(options.dir, instance.instanceId);
        await mkdir(dirname(kept), { recursive: true }).then(() => rename(instanceLogDir(options.dir, instance.instanceId), kept)).catch(() => undefined);
        await rm(instanceDir(options.dir, instance.instanceId), { recursive: true, force: true });
        // The address goes back to the subnet: the router must not keep the old MAC for the next ENI that gets it.
        await runCommand(ipIn(router, ['neigh', 'flush', 'to', target.eni.privateIp]), { signal, allowFailure: true });
        await lab.datapath.removeInstance(target.eni.id, { signal });
      }
    }
    cloud.completeInstanceTransition(instance.instanceId, from);
    log?.info({ instanceId: instance.instanceId, state: from === 'stopping' ? 'stopped' : 'terminated' }, 'lab instance stopped');
  };

  const transition = (instanceId: string, state: InstanceStateName): void => {
    const work = async (): Promise<void> => {
      const instance = cloud.view().instances[instanceId];
      // Only the latest state matters (a terminate while booting finishes the boot first, then shuts down).
      if (instance === undefined || instance.state !== state || !launchedByApi(instance)) {
        if (instance !== undefined && !launchedByApi(instance) && (state === 'stopping' || state === 'shutting-down' || state === 'pending')) {
          // The seeded instances of `lab up` are the lab's own: their state changes in the API only.
          cloud.completeInstanceTransition(instanceId, state);
        }
        return;
      }
      if (state === 'pending') await boot(instance);
      else if (state === 'stopping' || state === 'shutting-down') await shutdown(instance, state);
    };
    const next = (queues.get(instanceId) ?? Promise.resolve()).then(work).catch((error: unknown) => {
      log?.error({ instanceId, state, error: (error as Error).message }, 'lab instance transition failed');
      console_(instanceId, `lab: ${state} failed: ${(error as Error).message}`);
    });
    queues.set(instanceId, next);
    all.push(next);
  };

  const off = cloud.on((event) => {
    if (event.type === 'instance-state' && !signal.aborted) transition(event.instanceId, event.state);
  });
  // A restarted controller adopts what its predecessor launched.
  for (const instance of Object.values(cloud.view().instances)) {
    if (!launchedByApi(instance) || instance.state === 'terminated') continue;
    const target = apiLabInstance(lab, cloud, instance);
    if (target !== undefined) lab.datapath.addInstance(target);
    if (instance.state === 'pending' || instance.state === 'stopping' || instance.state === 'shutting-down') transition(instance.instanceId, instance.state);
  }

  const settled = async (): Promise<void> => {
    for (let i = 0; i < 100; i += 1) {
      const seen = all;
      await Promise.all(seen);
      if (seen.length === all.length) {
        all = [];
        return;
      }
    }
  };
  return {
    settled,
    close: async () => {
      off();
      clearInterval(poll);
      await settled();
      detach();
    },
  };
}
