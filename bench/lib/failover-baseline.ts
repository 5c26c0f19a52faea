/**
 * The original design, run in a lab without the agent (`nodes: false`), as the failover
 * benchmark's baseline: on every LB node haproxy (the config our compiler renders) and keepalived
 * from bench/baseline/keepalived.conf.tmpl (VRRPv2, advert 1 s, polled haproxy check, a
 * notify_master shell script running `aws ec2 replace-route` table by table).
 * Every process is started with `lab.spawn` (recorded: `lab.close()` stops it) and killed by pid.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Spec } from '../../src/model/spec.js';
import type { LabHandle } from '../../src/lab/lab.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { withRunDir } from '../../src/agent/run-dir.js';
import { killRecordedProcess, type RecordedProcess } from '../../src/lab/netns.js';

/** bench/baseline in the source tree (this file runs from dist/bench/lib). */
export const BASELINE_DIR = fileURLToPath(new URL('../../../bench/baseline/', import.meta.url));

export interface BaselineCluster {
  /** SIGKILL, like the lab's `kill` fault on the agent's nodes. */
  kill(node: string, program: 'haproxy' | 'keepalived'): Promise<void>;
  /** Starts the program again when it is not running (between trials). */
  ensureRunning(node: string): Promise<void>;
  /** The notify script's log of a node (one line per CLI call). */
  notifyLog(node: string): string;
}

interface NodeProcs { haproxy: RecordedProcess | null; keepalived: RecordedProcess | null }

export async function startBaseline(lab: LabHandle, options: { readonly spec: Spec; readonly specHash: string; readonly dir: string; readonly signal: AbortSignal }): Promise<BaselineCluster> {
  const { spec, signal } = options;
  const template = await readFile(join(BASELINE_DIR, 'keepalived.conf.tmpl'), 'utf8');
  const tables = lab.plan.routeTables.map((t) => t.id);
  const procs = new Map<string, NodeProcs>();
  const dirOf = (node: string): string => join(options.dir, node);

  const startHaproxy = async (node: string): Promise<void> => {
    const dir = dirOf(node);
    const proc = await lab.spawn(node, ['haproxy', '-db', '-f', join(dir, 'haproxy.cfg')], { signal, label: `baseline haproxy ${node}`, logFile: join(dir, 'haproxy.log') });
    await writeFile(join(dir, 'haproxy.pid'), `${proc.pid}\n`);
    procs.get(node)!.haproxy = proc;
  };
  const startKeepalived = async (node: string): Promise<void> => {
    const dir = dirOf(node);
    const proc = await lab.spawn(node, ['keepalived', '-n', '-l', '-D', '-f', join(dir, 'keepalived.conf'), '-p', join(dir, 'keepalived.pid'), '-r', join(dir, 'vrrp.pid'), '-c', join(dir, 'checkers.pid')],
      { signal, label: `baseline keepalived ${node}`, logFile: join(dir, 'keepalived.log') });
    procs.get(node)!.keepalived = proc;
  };

  for (const node of spec.cluster.nodes) {
    const dir = dirOf(node.name);
    await mkdir(join(dir, 'maps'), { recursive: true });
    const nodeSpec = withRunDir(spec, dir);
    const rendered = renderHaproxy(nodeSpec, { node: node.name, specHash: options.specHash, mapDir: join(dir, 'maps') });
    for (const m of rendered.maps) await writeFile(join(dir, 'maps', m.name), m.content);
    await writeFile(join(dir, 'haproxy.cfg'), rendered.config);
    const instance = lab.plan.instances.find((i) => i.name === node.name);
    if (instance === undefined) throw new Error(`lab has no instance ${node.name}`);
    const peer = spec.cluster.nodes.find((n) => n.name !== node.name);
    const fill: Record<string, string> = {
      NODE: node.name,
      CHECK_SCRIPT: join(BASELINE_DIR, 'check-haproxy.sh'),
      HAPROXY_PID_FILE: join(dir, 'haproxy.pid'),
      VRID: String(spec.cluster.vrrp.virtualRouterId),
      PRIORITY: String(node.priority),
      SRC_IP: node.address,
      PEER_IP: peer?.address ?? '',
      PREEMPT_DELAY: String(Math.round(spec.cluster.vrrp.preemptDelayMs / 1000)),
      MARKER: spec.cluster.vrrp.markerAddress,
      NOTIFY_SCRIPT: join(BASELINE_DIR, 'notify-master.sh'),
      ENI: instance.eni.id,
      VIP: spec.cluster.vip,
      REGION: lab.plan.region,
      LOG: join(dir, 'notify.log'),
      TABLES: tables.join(' '),
    };
    await writeFile(join(dir, 'keepalived.conf'), template.replace(/\{\{([A-Z_]+)\}\}/g, (_, k: string) => fill[k] ?? ''));
    await writeFile(join(dir, 'notify.log'), '');
    // The VIP is static on lo of every node, as the agent does it.
    await lab.exec(node.name, ['ip', 'addr', 'replace', `${spec.cluster.vip}/32`, 'dev', 'lo'], { signal });
    procs.set(node.name, { haproxy: null, keepalived: null });
    await startHaproxy(node.name);
    await startKeepalived(node.name);
  }

  const alive = (p: RecordedProcess | null): boolean => {
    if (p === null) return false;
    try {
      process.kill(p.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    kill: async (node, program) => {
      const p = procs.get(node)?.[program] ?? null;
      if (p === null) return;
      await killRecordedProcess(p, { signal, killSignal: 'SIGKILL', graceMs: 1000 });
    },
    ensureRunning: async (node) => {
      const p = procs.get(node)!;
      if (!alive(p.haproxy)) await startHaproxy(node);
      if (!alive(p.keepalived)) await startKeepalived(node);
    },
    notifyLog: (node) => join(dirOf(node), 'notify.log'),
  };
}
