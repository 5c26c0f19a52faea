import { join } from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentStatus } from '../agent-api/contract.js';
import type { DemoProbeResult } from './demo-probe.js';
import { startLab } from './lab.js';
import type { AgentCommand, LabHandle } from './lab.js';
import { ownProgramArgv } from '../util/own-program.js';

/** The demo's output: the part of the CLI's `CliIo` it uses. */
export interface DemoIo {
  out(text: string): void;
  err(text: string): void;
  readonly isTty: boolean;
}

export interface DemoOptions {
  readonly specFile: string;
  readonly prefix: string;
  /** Where the tour writes (the CLI passes its CliIo: the lab does not import the CLI). */
  readonly io: DemoIo;
  readonly signal: AbortSignal;
  /** What the LB nodes run as the agent (the packaged executable). @default this build */
  readonly agentCommand?: AgentCommand;
}

/**
 * The five-minute tour: a lab with two LB nodes in two AZs, traffic through the VIP with header
 * routing, the active node killed under a steady request stream, the measured outage, and the VIP
 * routes now on the other node. Everything it starts is removed at the end, also on Ctrl-C.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { io, signal } = options;
  const bold = (s: string): string => (io.isTty ? `\u001b[1m${s}\u001b[0m` : s);
  const step = (s: string): void => io.out(`\n${bold(`== ${s}`)}`);
  const tmp = await mkdtemp(join(tmpdir(), 'olb-demo-'));
  step('building the lab: a VPC router, 2 AZs, 2 LB nodes (haproxy + keepalived + agent), backends, clients');
  if (options.agentCommand !== undefined) io.out(`LB nodes run ${options.agentCommand.executable}${options.agentCommand.restricted === true ? ' under the packaged unit\'s capability bounding set and no_new_privs' : ''}`);
  const lab = await startLab({ specFile: options.specFile, azs: 2, prefix: options.prefix, nodes: true, signal, ...(options.agentCommand === undefined ? {} : { agentCommand: options.agentCommand }) });
  try {
    const vip = lab.plan.vip;
    const lbNodes = lab.plan.instances.filter((i) => i.role === 'lb-node');
    io.out(`VIP ${vip} (outside the VPC ${lab.plan.vpc.cidr}); LB nodes: ${lbNodes.map((n) => `${n.name} ${n.eni.privateIp} ${n.az} ${n.eni.id}`).join(', ')}`);
    io.out(`the lab's EC2-compatible API on the host: ${lab.apiUrl}  (try: overlay-lb lab env --prefix ${options.prefix})`);

    step('waiting for the election and the first claim');
    const first = await waitForMaster(lab, signal);
    await waitForSingleTarget(lab, signal);
    io.out(`master: ${first}`);
    await showRoutes(lab, io);

    step(`traffic through the VIP from client-az-a`);
    for (let i = 0; i < 4; i++) {
      const r = await lab.request(lab.plan.azs[0] ?? 'az-a', { path: '/', timeoutMs: 2000, signal });
      io.out(`GET http://${vip}/                 -> ${r.status} from backend ${r.body.trim()}`);
    }
    const canary = await lab.request(lab.plan.azs[0] ?? 'az-a', { path: '/', headers: { 'X-Canary': '1' }, timeoutMs: 2000, signal });
    io.out(`GET http://${vip}/ X-Canary: 1     -> ${canary.status} from backend ${canary.body.trim()}   (the canary route)`);
    const checkout = await lab.request(lab.plan.azs[1] ?? 'az-b', { path: '/checkout/cart', timeoutMs: 2000, signal });
    io.out(`GET http://${vip}/checkout/cart    -> ${checkout.status} from backend ${checkout.body.trim()}   (blue/green switch, from client-az-b)`);

    step(`killing the master ${first} (its link goes down) while a client sends a request every 10 ms`);
    const probeOut = join(tmp, 'probe.json');
    const stopFile = join(tmp, 'stop');
    const client = `client-${lab.plan.azs[0] ?? 'az-a'}`;
    const probe = lab.exec(client, ownProgramArgv('demo-probe', [`http://${vip}/`, '30', '10', stopFile]), { signal, timeoutMs: 60_000 });
    await sleep(1500, undefined, { signal });
    const fault = { kind: 'node-down', node: first } as const;
    await lab.faults.inject(fault);
    const t0 = Date.now();
    const second = await waitForSingleTarget(lab, signal, first);
    io.out(`every route table now points at ${second} (${Date.now() - t0} ms after the fault, as the API reports it)`);
    await sleep(1500, undefined, { signal });
    await writeFile(stopFile, '');
    const result = JSON.parse((await probe).stdout.trim().split('\n').at(-1) ?? '{}') as DemoProbeResult;
    await writeFile(probeOut, JSON.stringify(result));
    io.out(`client: ${result.ok} requests answered, ${result.failed} failed; outage ${result.outagesMs.map((o) => `${o} ms`).join(', ') || 'none'} (last success before -> first success after)`);
    await showRoutes(lab, io);

    step(`bringing ${first} back: it returns as master after its preempt delay, once its haproxy serves`);
    await lab.faults.clear(fault);
    io.out(`(${first} is back; with preempt it takes over again after the spec's preemptDelay)`);
    step('done: everything the demo started is being removed');
  } finally {
    await lab.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Waits until one LB node's agent reports MASTER with every resource claimed. */
async function waitForMaster(lab: LabHandle, signal: AbortSignal): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    for (const node of lab.plan.instances.filter((i) => i.role === 'lb-node')) {
      const r = await lab.exec(node.name, ['curl', '-fsS', '--max-time', '1', 'http://127.0.0.1:8406/status'], { signal, allowFailure: true });
      if (r.code !== 0) continue;
      const s = JSON.parse(r.stdout) as AgentStatus;
      if (s.vrrp.vrrp === 'MASTER' && s.vrrp.phase === 'holding') return node.name;
    }
    if (Date.now() > deadline) throw new Error('no LB node became master within 60 s; see the agent logs under the lab directory');
    await sleep(200, undefined, { signal });
  }
}

async function showRoutes(lab: LabHandle, io: DemoIo): Promise<void> {
  const api = await lab.routeTargets({ view: 'api' });
  const kernel = await lab.routeTargets({ view: 'kernel' });
  io.out('VIP route in each VPC route table (API view / kernel view):');
  for (const [table, node] of api) io.out(`  ${table}: ${node ?? '-'} / ${kernel.get(table) ?? '-'}`);
}

/** Waits until every route table points at one node (other than `not`), and returns it. */
async function waitForSingleTarget(lab: LabHandle, signal: AbortSignal, not?: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const targets = new Set((await lab.routeTargets({ view: 'api', signal })).values());
    const [only] = [...targets];
    if (targets.size === 1 && only !== null && only !== undefined && only !== not) {
      await lab.settled();
      return only;
    }
    if (Date.now() > deadline) throw new Error(`the VIP routes did not converge on one node within 60 s: ${[...targets].join(', ')}`);
    await sleep(100, undefined, { signal });
  }
}
