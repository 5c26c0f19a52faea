/**
 * The rendered keepalived.conf really works: two real keepalived 2.2.7 processes in two network
 * namespaces joined by a veth pair, with the transitions read from their notify FIFOs exactly as
 * the agent will read them.
 *
 * GIVEN nodes lb-a (priority 200) and lb-b (190), advert 100 ms, preempt delay 1 s, the VIP on lo
 * in both namespaces (as the agent puts it), track files at "0", no agent check:
 * - lb-a ends MASTER and lb-b BACKUP; the marker address only on the master;
 * - track file "1" on lb-a: lb-a FAULT, lb-b MASTER; "0" again: lb-a BACKUP, then MASTER;
 * - a partition: both MASTER; healed: lb-a writes MASTER_RX_LOWER_PRI (without any
 *   notify script configured), stays MASTER, lb-b goes BACKUP;
 * - keepalived never removes the VIP on either node.
 */
import assert from 'node:assert/strict';
import { constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Spec } from '../../src/model/spec.js';
import {
  KEEPALIVED_FIFO_LINE_RE,
  keepalivedFifoPath,
  keepalivedInstanceName,
  keepalivedTrackPath,
  renderKeepalived,
} from '../../src/render/keepalived.js';
import { FIXTURE_HASH, fixtureSpec } from '../golden/keepalived/fixtures.js';
import { createSandbox, run, type Sandbox, type SandboxProcess } from '../helpers/netns.js';

const VIP = '192.168.100.10';
const WAIT_MS = 15_000;

/** Reads a notify FIFO the way the agent does: opened O_RDWR (never EOF, never blocks keepalived). */
class FifoLog {
  readonly lines: string[] = [];
  private readonly socket: Socket;

  constructor(path: string) {
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    this.socket = new Socket({ fd, readable: true, writable: false });
    createInterface({ input: this.socket }).on('line', (line) => this.lines.push(line));
  }

  /** The last state (not event) line's state, or undefined. */
  state(): string | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const m = KEEPALIVED_FIFO_LINE_RE.exec(this.lines[i] ?? '');
      if (m !== null && ['MASTER', 'BACKUP', 'FAULT', 'STOP'].includes(m[3] ?? '')) return m[3];
    }
    return undefined;
  }

  close(): void {
    this.socket.destroy();
  }
}

interface Node {
  readonly name: string;
  readonly ns: string;
  readonly stateDir: string;
  readonly fifo: FifoLog;
  readonly proc: SandboxProcess;
}

/** Replaces the track file atomically, as the agent does. */
async function writeTrack(node: Node, value: '0' | '1'): Promise<void> {
  const track = keepalivedTrackPath(node.stateDir);
  await writeFile(`${track}.tmp`, `${value}\n`);
  await rename(`${track}.tmp`, track);
}

async function loAddresses(sb: Sandbox, ns: string): Promise<string[]> {
  const r = await sb.exec(ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'lo'], { signal: AbortSignal.timeout(5000) });
  return [...r.stdout.matchAll(/inet ([0-9.]+)\//g)].map((m) => m[1] ?? '');
}

void test('keepalived in two namespaces: election, FAULT by track file, failback, partition heal', async (t) => {
  const sb = createSandbox();
  const fifos: FifoLog[] = [];
  t.after(async () => {
    for (const f of fifos) f.close();
    await sb.cleanup();
  });
  const work = await mkdtemp(join(tmpdir(), 'olb-keepalived-netns-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const setup = AbortSignal.timeout(30_000);

  const base = fixtureSpec({
    clusterName: 'nstest',
    virtualRouterId: 77,
    advertIntervalMs: 100,
    preemptDelayMs: 1000,
    nodes: [
      { name: 'lb-a', address: '10.0.1.10', zone: 'az-a', priority: 200, interface: 'eth0' },
      { name: 'lb-b', address: '10.0.1.11', zone: 'az-b', priority: 190, interface: 'eth0' },
    ],
  });
  const marker = base.cluster.vrrp.markerAddress;
  const instance = keepalivedInstanceName(base.cluster.name);
  const nsA = await sb.addNamespace('a', { signal: setup });
  const nsB = await sb.addNamespace('b', { signal: setup });
  await sb.addVeth({ ns: nsA, ifname: 'eth0', address: '10.0.1.10/24' }, { ns: nsB, ifname: 'eth0', address: '10.0.1.11/24' }, { signal: setup });

  const nodes: Node[] = [];
  for (const [name, ns] of [['lb-a', nsA], ['lb-b', nsB]] as const) {
    // Both nodes share this machine: each gets its own stateDir (the spec's is per machine).
    const stateDir = join(work, name);
    await mkdir(stateDir);
    const spec: Spec = { ...base, admin: { ...base.admin, stateDir } };
    const conf = join(stateDir, 'keepalived.conf');
    await writeFile(conf, renderKeepalived(spec, { node: name, specHash: FIXTURE_HASH, agentCheck: false }));
    await run(['mkfifo', '-m', '0600', keepalivedFifoPath(stateDir)], { signal: setup });
    await writeFile(keepalivedTrackPath(stateDir), '0\n');
    await sb.exec(ns, ['ip', 'addr', 'add', `${VIP}/32`, 'dev', 'lo'], { signal: setup });
    const fifo = new FifoLog(keepalivedFifoPath(stateDir));
    fifos.push(fifo);
    // The command line the agent uses: VRRP only, foreground, log to stderr, own pid files.
    const proc = sb.spawn(ns, [
      'keepalived', '--vrrp', '--dont-fork', '--log-console', '--log-detail', '--no-syslog',
      '-f', conf, '-p', join(stateDir, 'keepalived.pid'), '-r', join(stateDir, 'vrrp.pid'), '-c', join(stateDir, 'checkers.pid'),
    ]);
    nodes.push({ name, ns, stateDir, fifo, proc });
  }
  const [a, b] = nodes as [Node, Node];

  const describeAll = (): string =>
    nodes.map((n) => `--- ${n.name} FIFO:\n${n.fifo.lines.join('\n')}\n--- ${n.name} keepalived:\n${n.proc.output()}`).join('\n');

  /** Polls `cond` (bounded by WAIT_MS); fails with both nodes' FIFO lines and logs. */
  const waitUntil = async (what: string, cond: () => Promise<boolean> | boolean): Promise<void> => {
    const deadline = Date.now() + WAIT_MS;
    for (let i = 0; i < 10_000; i++) {
      for (const n of nodes) {
        if (n.proc.child.exitCode !== null || n.proc.child.signalCode !== null) {
          assert.fail(`${n.name}: keepalived exited while waiting for ${what}\n${describeAll()}`);
        }
      }
      if (await cond()) return;
      if (Date.now() > deadline) break;
      await sleep(20);
    }
    assert.fail(`timed out after ${WAIT_MS} ms waiting for ${what}\n${describeAll()}`);
  };
  const markerOnlyOn = async (master: Node): Promise<boolean> => {
    for (const n of nodes) {
      if ((await loAddresses(sb, n.ns)).includes(marker) !== (n === master)) return false;
    }
    return true;
  };
  const assertVipEverywhere = async (): Promise<void> => {
    for (const n of nodes) assert.ok((await loAddresses(sb, n.ns)).includes(VIP), `${n.name} lost the VIP\n${describeAll()}`);
  };

  // 1. Election: lb-a (higher priority) is master after its preempt delay; lb-b backup.
  await waitUntil('lb-a MASTER, lb-b BACKUP', () => a.fifo.state() === 'MASTER' && b.fifo.state() === 'BACKUP');
  await waitUntil('marker only on lb-a', () => markerOnlyOn(a));
  await assertVipEverywhere();
  assert.ok(a.fifo.lines.includes(`INSTANCE "${instance}" MASTER 200`), describeAll());

  // 2. Health fails on the master (track file "1"): FAULT, and lb-b takes over.
  await writeTrack(a, '1');
  await waitUntil('lb-a FAULT, lb-b MASTER', () => a.fifo.state() === 'FAULT' && b.fifo.state() === 'MASTER');
  await waitUntil('marker only on lb-b', () => markerOnlyOn(b));
  await assertVipEverywhere();

  // 3. Health back: lb-a returns as BACKUP, then preempts after the delay.
  const beforeRecovery = a.fifo.lines.length;
  await writeTrack(a, '0');
  await waitUntil('lb-a MASTER again, lb-b BACKUP', () => a.fifo.state() === 'MASTER' && b.fifo.state() === 'BACKUP');
  const recovery = a.fifo.lines.slice(beforeRecovery).map((l) => KEEPALIVED_FIFO_LINE_RE.exec(l)?.[3]);
  assert.deepEqual(recovery.slice(0, 2), ['BACKUP', 'MASTER'], describeAll());
  await waitUntil('marker only on lb-a again', () => markerOnlyOn(a));
  await assertVipEverywhere();

  // 4. Partition: each side sends to a bogus MAC for the other (the receiver's kernel drops
  // frames not addressed to it; a prohibit route does not stop keepalived's device-bound socket).
  const signal = AbortSignal.timeout(10_000);
  const bogus = ['lladdr', '02:00:00:00:00:01', 'dev', 'eth0', 'nud', 'permanent'];
  // lb-b's side first: once lb-a's adverts stop reaching lb-b, lb-b turns MASTER and adverts, and
  // those must already go nowhere. In the other order, on a busy machine, lb-b's adverts could
  // reach lb-a before lb-b's side was cut, and lb-a's MASTER_RX_LOWER_PRI came before the heal.
  await sb.exec(b.ns, ['ip', 'neigh', 'replace', '10.0.1.10', ...bogus], { signal });
  await sb.exec(a.ns, ['ip', 'neigh', 'replace', '10.0.1.11', ...bogus], { signal });
  // Both MASTER, and lb-b settled there: on a busy machine lb-b's timer can fire before it reads an
  // advert lb-a sent just before the cut, which flips it back to BACKUP once more. Healing during
  // such a blip would leave lb-a nothing lower to hear. "Settled" = no new FIFO line from lb-b for
  // 10 advert intervals while both are MASTER (a wait on state, not a bound on the product).
  let settled = { lines: -1, since: 0 };
  await waitUntil('both MASTER during the partition, lb-b settled', () => {
    if (a.fifo.state() !== 'MASTER' || b.fifo.state() !== 'MASTER') return false;
    if (settled.lines !== b.fifo.lines.length) settled = { lines: b.fifo.lines.length, since: Date.now() };
    return Date.now() - settled.since >= 1_000;
  });
  const beforeHeal = a.fifo.lines.length;
  // Healed lb-b's side first, for the same reason: lb-b answers lb-a's first advert with one last
  // advert of its own (vrrp_higher_prio_send_advert), which must reach lb-a.
  await sb.exec(b.ns, ['ip', 'neigh', 'del', '10.0.1.10', 'dev', 'eth0'], { signal });
  await sb.exec(a.ns, ['ip', 'neigh', 'del', '10.0.1.11', 'dev', 'eth0'], { signal });
  // Healed: the rightful master hears the lower priority and says so on its FIFO, with no
  // notify_master_rx_lower_pri script configured; the other one yields.
  await waitUntil('MASTER_RX_LOWER_PRI on lb-a and lb-b BACKUP', () =>
    a.fifo.lines.slice(beforeHeal).includes(`INSTANCE "${instance}" MASTER_RX_LOWER_PRI 200`) && b.fifo.state() === 'BACKUP');
  assert.equal(a.fifo.state(), 'MASTER');
  await waitUntil('marker only on lb-a after the heal', () => markerOnlyOn(a));
  await assertVipEverywhere();
  if (process.env['KEEPALIVED_TEST_LOG'] === '1') process.stderr.write(`${describeAll()}\n`);
});
