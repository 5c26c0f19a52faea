/**
 * `overlay-lb lab up|down|status|exec|env|fault|serve`: the lab on one machine (see docs/lab.md).
 * Argument parsing and output only; the work is in src/lab/lab.ts and src/lab/controller.ts.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadSpecFile } from '../../ops/load-spec.js';
import { ensureWritableDirectory, requireRegularFile } from '../../ops/paths.js';
import { buildLab, openLab } from '../../lab/topology.js';
import { labFiles, readJson, startLabController, type ControllerInfo, type LabFault } from '../../lab/controller.js';
import {
  collectLabStatus, controlRequest, killLabNodeProcess, labStateFile, planFromOptions, startNodeSoftware, stopLab, type LabStatusReport,
} from '../../lab/lab.js';
import { createLogger } from '../../util/log.js';
import { runDemo } from '../../lab/demo.js';
import { SystemError, UserError } from '../../util/errors.js';
import { parseCommandArgs } from '../args.js';
import { EXIT, type CliIo } from '../io.js';
import { timeoutSignal } from '../../util/abort.js';
import { ownProgramArgv } from '../../util/own-program.js';
import type { AgentCommand } from '../../lab/lab.js';

export const labHelp = `Usage: overlay-lb lab COMMAND [options]

  up [--spec FILE] [--azs 2|3] [--no-nodes] [--agent-exec PATH [--agent-restricted]]
                                             build the lab (default spec examples/demo.yaml)
  up --bare [--spec FILE]                    a bare account: VPC, subnets in 3 AZs, route tables, internet
                                             gateway, clients, backends; no LB nodes (launch them via the API)
  demo [--spec FILE] [--agent-exec PATH [--agent-restricted]]
                                             the guided tour: lab up, header routing, a node killed, lab down
  status [--json]                            namespaces, processes, VIP route per table, faults
  down                                       remove everything 'up' made (idempotent)
  exec NODE -- CMD [ARGS...]                 run a command inside a lab instance (no shell; NODE may be
                                             an instance id launched through the API)
  env                                        the host's API endpoint and admin credentials as env lines
  fault KIND [ARGS] [--clear] | --clear-all  inject or clear a fault:
      api-latency --action ACTION|* --ms N     api-throttle on|off       api-errors --rate 0..1
      api-consistency --ms N                   api-unreachable --az AZ [--mode drop|hang]
      api-clock-skew --ms N (the API's Date header N ms ahead: every node's clock N ms behind)
      s3-latency --ms N                        s3-unreachable [--mode drop|hang]
      iam-propagation --ms N (new instance profiles unknown to RunInstances for N ms)
      node-down NODE    az-blackhole AZ    partition [--sides AZ,AZ:AZ]    kill NODE haproxy|keepalived|agent
  serve --state-file FILE                    run the lab controller (started by 'up')

Common options: --prefix P (default olb-), --state-dir DIR (default /run/overlay-lb-lab).
--agent-exec PATH: the LB nodes run this executable as the agent (the packaged overlay-lb, e.g.
usr/bin/overlay-lb of the .deb extracted with dpkg-deb -x) instead of this build;
--agent-restricted: under the packaged unit's capability bounding set and no_new_privs (setpriv).`;

const agentOptions = { 'agent-exec': { type: 'string' }, 'agent-restricted': { type: 'boolean' } } as const;

/** The lab's agent command from --agent-exec/--agent-restricted (undefined: this build). */
function agentCommandOf(values: { 'agent-exec'?: string | undefined; 'agent-restricted'?: boolean | undefined }, command: string): AgentCommand | undefined {
  if (values['agent-exec'] === undefined) {
    if (values['agent-restricted'] === true) throw new UserError('CLI_USAGE', `${command}: --agent-restricted needs --agent-exec PATH (the packaged executable)`);
    return undefined;
  }
  return { executable: resolve(values['agent-exec']), restricted: values['agent-restricted'] === true };
}

const READY_LINE = 'lab controller ready';

export async function runLab(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'up': return labUp(rest, io, signal);
    case 'down': return labDown(rest, io, signal);
    case 'status': return labStatus(rest, io, signal);
    case 'exec': return labExec(rest, io, signal);
    case 'env': return labEnv(rest, io, signal);
    case 'fault': return labFault(rest, io, signal);
    case 'serve': return labServe(rest, io, signal);
    case 'demo': return labDemo(rest, io, signal);
    case undefined: case '--help': case '-h': case 'help':
      io.out(labHelp);
      return sub === undefined ? EXIT.usage : EXIT.ok;
    default:
      throw new UserError('CLI_USAGE', `lab: unknown command ${JSON.stringify(sub)}; commands: up, status, down, exec, env, fault, serve, demo. See: overlay-lb lab --help`);
  }
}

async function labDemo(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('lab demo', argv, { ...common, ...agentOptions, spec: { type: 'string' } });
  if (values.help) return (io.out(labHelp), EXIT.ok);
  const agentCommand = agentCommandOf(values, 'lab demo');
  await runDemo({ specFile: values.spec ?? 'examples/demo.yaml', prefix: values.prefix ?? 'olbdemo-', io, signal, ...(agentCommand === undefined ? {} : { agentCommand }) });
  return EXIT.ok;
}

const common = { prefix: { type: 'string' }, 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

/** The lab's state file from --prefix and --state-dir (a --state-dir on /proc or naming a file is refused). */
async function stateFileOf(values: { prefix?: string | undefined; 'state-dir'?: string | undefined }, signal: AbortSignal): Promise<string> {
  if (values['state-dir'] !== undefined) await ensureWritableDirectory(values['state-dir'], { what: 'lab: --state-dir', missing: 'allow', signal });
  return labStateFile({ ...(values.prefix === undefined ? {} : { prefix: values.prefix }), ...(values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] }) });
}

async function labUp(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('lab up', argv, { ...common, ...agentOptions, spec: { type: 'string' }, azs: { type: 'string' }, 'no-nodes': { type: 'boolean' }, bare: { type: 'boolean' } });
  const agentCommand = agentCommandOf(values, 'lab up');
  if (values.help) return (io.out(labHelp), EXIT.ok);
  if (positionals.length > 0) throw new UserError('CLI_USAGE', `lab up: unexpected argument ${JSON.stringify(positionals[0])}; the spec goes in --spec FILE`);
  if (values.azs !== undefined && values.azs !== '2' && values.azs !== '3') throw new UserError('CLI_USAGE', `lab up: --azs ${values.azs} is not allowed: use 2 or 3`);
  const specFile = values.spec ?? 'examples/demo.yaml';
  if (values['state-dir'] !== undefined) await ensureWritableDirectory(values['state-dir'], { what: 'lab up: --state-dir', missing: 'allow', signal });
  const { spec } = await loadSpecFile(specFile, { signal });
  const bare = values.bare === true;
  const { plan } = await planFromOptions({
    spec, ...(values.azs === undefined ? {} : { azs: values.azs === '3' ? 3 : 2 }), bare, ...(values.prefix === undefined ? {} : { prefix: values.prefix }), signal,
  });
  const stateDir = values['state-dir'];
  const lab = await buildLab(plan, { signal, ...(stateDir === undefined ? {} : { stateDir }) });
  const stateFile = lab.stateFilePath;
  try {
    const serveArgs = ['lab', 'serve', '--state-file', stateFile, '--failover', spec.cluster.cloud.failover];
    if (spec.cluster.cloud.eipAllocationId !== undefined) serveArgs.push('--eip-allocation-id', spec.cluster.cloud.eipAllocationId);
    await startDetachedController(serveArgs, labFiles(stateFile, plan.prefix).log, signal);
    const reopened = await openLab({ signal, stateFile });
    const skipped = values['no-nodes'] === true || bare ? null : await startNodeSoftware(reopened, { specFile, signal, ...(agentCommand === undefined ? {} : { agentCommand }) });
    printStatus(io, await collectLabStatus(stateFile, { signal }));
    if (skipped !== null) io.out(`note: node software not started: ${skipped}`);
    io.out(`take it down with: overlay-lb lab down${values.prefix === undefined ? '' : ` --prefix ${values.prefix}`}`);
    return EXIT.ok;
  } catch (error) {
    await stopLab(stateFile, { signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
    throw error;
  }
}

/** Starts `overlay-lb lab serve` detached (it outlives this command) and waits for its ready line. */
async function startDetachedController(args: readonly string[], logPath: string, signal: AbortSignal): Promise<void> {
  mkdirSync(dirname(logPath), { recursive: true, mode: 0o700 });
  const logFd = openSync(logPath, 'a', 0o600);
  const [program = process.execPath, ...programArgs] = ownProgramArgv('cli', args);
  const child = spawn(program, programArgs, { detached: true, stdio: ['ignore', 'pipe', logFd] });
  closeSync(logFd);
  try {
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      const deadline = timeoutSignal(30_000, signal);
      const fail = (why: string): void => reject(new SystemError('LAB_CONTROLLER', `the lab controller did not start: ${why}; see its log ${logPath}`));
      const onAbort = (): void => fail('not ready within 30 s');
      deadline.addEventListener('abort', onAbort, { once: true });
      child.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        if (buffer.split('\n').includes(READY_LINE)) {
          deadline.removeEventListener('abort', onAbort);
          resolve();
        }
      });
      child.once('exit', (code) => fail(`it exited with code ${code}`));
      child.once('error', (error) => fail(error.message));
    });
  } finally {
    child.stdout?.destroy();
    child.removeAllListeners('exit');
    child.unref();
  }
}

async function labServe(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('lab serve', argv, { 'state-file': { type: 'string' }, failover: { type: 'string' }, 'eip-allocation-id': { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) return (io.out(labHelp), EXIT.ok);
  if (values['state-file'] === undefined) throw new UserError('CLI_USAGE', 'lab serve: --state-file FILE is required (lab up starts it for you)');
  await requireRegularFile(values['state-file'], { what: 'lab serve: --state-file', fix: 'give the state file that lab up wrote (<state dir>/<prefix>state.json)' });
  const failover = values.failover === 'eip' ? 'eip' : 'route';
  const log = createLogger({ write: (line) => process.stderr.write(line), base: { component: 'lab-controller' } });
  const controller = await startLabController({
    stateFile: values['state-file'], signal, recordSelf: true, failover, log,
    ...(values['eip-allocation-id'] === undefined ? {} : { eipAllocationId: values['eip-allocation-id'] }),
  });
  io.out(READY_LINE);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await controller.close();
  return EXIT.ok;
}

async function labDown(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('lab down', argv, common);
  if (values.help) return (io.out(labHelp), EXIT.ok);
  const stateFile = await stateFileOf(values, signal);
  const { wasUp } = await stopLab(stateFile, { signal });
  io.out(wasUp ? `lab ${values.prefix ?? 'olb-'} is down` : `no lab with prefix ${values.prefix ?? 'olb-'} was up (no state file ${stateFile}); nothing to do`);
  return EXIT.ok;
}

async function labStatus(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('lab status', argv, { ...common, json: { type: 'boolean' } });
  if (values.help) return (io.out(labHelp), EXIT.ok);
  const report = await collectLabStatus(await stateFileOf(values, signal), { signal });
  if (values.json === true) io.out(JSON.stringify(report, null, 2));
  else printStatus(io, report);
  return EXIT.ok;
}

function printStatus(io: CliIo, r: LabStatusReport): void {
  const lines = [
    `lab ${r.prefix}: VPC ${r.vpcId}, VIP ${r.vip}`,
    `EC2 API (host): ${r.apiUrl ?? 'unknown'}   controller: ${r.controller.alive ? `running (pid ${r.controller.pid})` : 'NOT RUNNING'}`,
    `namespaces: ${r.namespaces.map((n) => (n.exists ? n.name : `${n.name} (MISSING)`)).join(' ')}`,
    'processes:',
    ...r.processes.map((p) => `  ${p.alive ? 'up  ' : 'DOWN'} ${p.label} (pid ${p.pid ?? '-'})`),
    'VIP route per route table (kernel / API):',
    ...r.routeTables.map((t) => `  ${t.id}${t.main ? ' (main)' : ''} [${t.subnets.join(', ') || '-'}]: ${t.kernel ?? 'none'} / ${t.api === undefined ? '?' : (t.api ?? 'none')}${t.agree ? '' : '  DISAGREE'}`),
    `faults: ${r.faults.length === 0 ? 'none' : r.faults.map((f) => JSON.stringify(f)).join(' ')}`,
  ];
  io.out(lines.join('\n'));
}

async function labExec(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const dash = argv.indexOf('--');
  const { values, positionals } = parseCommandArgs('lab exec', dash < 0 ? argv : argv.slice(0, dash), common);
  if (values.help) return (io.out(labHelp), EXIT.ok);
  const command = dash < 0 ? positionals.slice(1) : argv.slice(dash + 1);
  const node = positionals[0];
  if (node === undefined || command.length === 0) throw new UserError('CLI_USAGE', 'lab exec: usage: overlay-lb lab exec NODE -- CMD [ARGS...] (NODE: an instance name, router or internet)');
  const lab = await openLab({ signal, stateFile: await stateFileOf(values, signal) });
  const result = await lab.exec(node, command, { signal, allowFailure: true, timeoutMs: 3_600_000 });
  if (result.stdout !== '') io.out(result.stdout);
  if (result.stderr !== '') io.err(result.stderr);
  return result.code < 0 ? EXIT.failure : result.code;
}

async function labEnv(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('lab env', argv, common);
  if (values.help) return (io.out(labHelp), EXIT.ok);
  const state = await openLab({ signal, stateFile: await stateFileOf(values, signal) });
  const info = await readJson<ControllerInfo>(labFiles(state.stateFilePath, state.plan.prefix).info);
  if (info === null) throw new SystemError('LAB_CONTROLLER', `the lab controller of ${state.plan.prefix} has published no endpoint: check \`overlay-lb lab status\``);
  io.out([
    `export AWS_ACCESS_KEY_ID=${info.admin.accessKeyId}`,
    `export AWS_SECRET_ACCESS_KEY=${info.admin.secretAccessKey}`,
    `export AWS_DEFAULT_REGION=${info.region}`,
    'export AWS_EC2_METADATA_DISABLED=true',
    `export AWS_ENDPOINT_URL_EC2=${info.apiUrl}`,
    `# aws CLI before 2.13 ignores AWS_ENDPOINT_URL_EC2: pass --endpoint-url ${info.apiUrl}`,
  ].join('\n'));
  return EXIT.ok;
}

async function labFault(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('lab fault', argv, {
    ...common, clear: { type: 'boolean' }, 'clear-all': { type: 'boolean' }, action: { type: 'string' }, ms: { type: 'string' },
    rate: { type: 'string' }, az: { type: 'string' }, mode: { type: 'string' }, sides: { type: 'string' },
  });
  if (values.help) return (io.out(labHelp), EXIT.ok);
  const stateFile = await stateFileOf(values, signal);
  // The lab is opened only once the arguments are known to be right: a bad number is reported
  // as such, also when no lab is up.
  const controlSocket = async (): Promise<string> => labFiles(stateFile, (await openLab({ signal, stateFile })).plan.prefix).controlSocket;
  const [kind, ...args] = positionals;
  if (values['clear-all'] === true) {
    await controlRequest(await controlSocket(), { method: 'POST', path: '/faults', body: { op: 'clear-all' } }, { signal });
    io.out('every fault cleared');
    return EXIT.ok;
  }
  if (kind === undefined || kind === 'status') {
    io.out(JSON.stringify(await controlRequest(await controlSocket(), { method: 'GET', path: '/status' }, { signal }), null, 2));
    return EXIT.ok;
  }
  if (kind === 'kill') {
    const [node, program] = args;
    if (node === undefined || (program !== 'haproxy' && program !== 'keepalived' && program !== 'agent')) {
      throw new UserError('CLI_USAGE', 'lab fault kill: usage: overlay-lb lab fault kill NODE haproxy|keepalived|agent');
    }
    const outcome = await killLabNodeProcess(stateFile, node, program, { signal });
    io.out(outcome === 'killed' ? `killed ${program} on ${node} (SIGKILL)` : `${program} on ${node} was not running`);
    return EXIT.ok;
  }
  let on = values.clear !== true;
  const number = (name: 'ms' | 'rate', text: string | undefined): number => {
    const n = Number(text);
    if (text === undefined || text.trim() === '' || !Number.isFinite(n) || n < 0 || (name === 'rate' && n > 1)) {
      if (!on && text === undefined) return 0;
      const allowed = name === 'ms' ? 'a number of milliseconds >= 0, for example --ms 500' : 'a fraction from 0 to 1, for example --rate 0.2';
      throw new UserError('CLI_USAGE', `lab fault ${kind}: --${name} ${text === undefined ? 'is required' : `${JSON.stringify(text)} is not allowed`}: give ${allowed}`);
    }
    return n;
  };
  const arg = (what: string): string => {
    const value = args[0];
    if (value === undefined) throw new UserError('CLI_USAGE', `lab fault ${kind}: ${what} is required. See: overlay-lb lab --help`);
    return value;
  };
  let fault: LabFault;
  switch (kind) {
    case 'api-latency': fault = { kind, action: values.action ?? '*', ms: number('ms', values.ms) }; break;
    case 'api-throttle': {
      const state = args[0] ?? 'on';
      if (state !== 'on' && state !== 'off') throw new UserError('CLI_USAGE', `lab fault api-throttle: ${JSON.stringify(state)} is not allowed: use on or off`);
      if (state === 'off') on = false;
      fault = { kind };
      break;
    }
    case 'api-errors': fault = { kind, rate: number('rate', values.rate) }; break;
    case 'api-consistency': fault = { kind, ms: number('ms', values.ms) }; break;
    case 'api-clock-skew': fault = { kind, ms: number('ms', values.ms) }; break;
    case 'iam-propagation': fault = { kind, ms: number('ms', values.ms) }; break;
    case 'api-unreachable': {
      if (values.az === undefined) throw new UserError('CLI_USAGE', 'lab fault api-unreachable: --az AZ is required');
      fault = { kind, az: values.az, ...(values.mode === 'hang' || values.mode === 'drop' ? { mode: values.mode } : {}) };
      break;
    }
    case 's3-latency': fault = { kind, ms: number('ms', values.ms) }; break;
    case 's3-unreachable': {
      if (values.mode !== undefined && values.mode !== 'hang' && values.mode !== 'drop') {
        throw new UserError('CLI_USAGE', `lab fault s3-unreachable: --mode ${JSON.stringify(values.mode)} is not allowed: use drop or hang`);
      }
      fault = { kind, ...(values.mode === undefined ? {} : { mode: values.mode }) };
      break;
    }
    case 'node-down': fault = { kind, node: arg('NODE') }; break;
    case 'az-blackhole': fault = { kind, az: arg('AZ') }; break;
    case 'partition': {
      const sides = values.sides?.split(':').map((s) => s.split(',').filter((x) => x !== ''));
      if (sides !== undefined && (sides.length !== 2 || sides.some((s) => s.length === 0))) {
        throw new UserError('CLI_USAGE', `lab fault partition: --sides ${values.sides} must be two AZ lists split by ':', for example az-a:az-b`);
      }
      fault = sides === undefined ? { kind } : { kind, sides: [sides[0] ?? [], sides[1] ?? []] };
      break;
    }
    default:
      throw new UserError('LAB_FAULT_INVALID', `unknown fault kind ${JSON.stringify(kind)}: allowed are api-latency, api-throttle, api-errors, api-consistency, api-clock-skew, api-unreachable, iam-propagation, s3-latency, s3-unreachable, node-down, az-blackhole, partition, kill`);
  }
  const answer = await controlRequest(await controlSocket(), { method: 'POST', path: '/faults', body: { op: on ? 'inject' : 'clear', fault } }, { signal }) as { faults: unknown[] };
  io.out(`${on ? 'injected' : 'cleared'} ${kind}; active faults: ${answer.faults.length === 0 ? 'none' : answer.faults.map((f) => JSON.stringify(f)).join(' ')}`);
  return EXIT.ok;
}
