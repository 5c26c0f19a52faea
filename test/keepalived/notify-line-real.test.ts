/**
 * The notify-line parser against lines written by the real keepalived 2.2.7: two keepalived
 * processes in two network namespaces, three VRRP instances each with odd but legal names
 * (punctuation, a quoted name with spaces and non-ASCII letters, an apostrophe). Node a is driven
 * through BACKUP, MASTER, FAULT (track file), MASTER again, a one-way partition in which it
 * writes MASTER_RX_LOWER_PRI, and STOP (SIGTERM). Every line a wrote is parsed and must round-trip; node
 * b's FIFO is read by the agent's own reader (readNotifyFifo).
 */
import assert from 'node:assert/strict';
import { constants, openSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { formatNotifyLine, parseNotifyLine } from '../../src/keepalived/notify-line.js';
import type { VrrpTransition } from '../../src/keepalived/notify-line.js';
import { readNotifyFifo } from '../../src/keepalived/notify-fifo.js';
import { createSandbox, run, type SandboxProcess } from '../helpers/netns.js';

const WAIT_MS = 20_000;
/** Names as written in keepalived.conf, and as keepalived reports them. */
const INSTANCES = [
  { conf: 'olb.odd-name_1:x@y/z', name: 'olb.odd-name_1:x@y/z', vrid: 61 },
  { conf: '"with space and ünïcødé 名前"', name: 'with space and ünïcødé 名前', vrid: 62 },
  { conf: "it's-OK", name: "it's-OK", vrid: 63 },
] as const;

function config(options: { fifo: string; track: string; priority: number; self: string; peer: string }): string {
  return [
    'global_defs {',
    '    vrrp_version 3',
    `    vrrp_notify_fifo ${options.fifo}`,
    '    vrrp_higher_prio_send_advert true',
    '}',
    'track_file olb_health {',
    `    file "${options.track}"`,
    '    weight 0',
    '    init_file 1',
    '}',
    ...INSTANCES.flatMap((i) => [
      `vrrp_instance ${i.conf} {`,
      '    state BACKUP',
      '    interface eth0',
      `    virtual_router_id ${i.vrid}`,
      `    priority ${options.priority}`,
      '    advert_int 0.1',
      `    unicast_src_ip ${options.self}`,
      `    unicast_peer {\n        ${options.peer}\n    }`,
      `    virtual_ipaddress {\n        169.254.240.${i.vrid}/32 dev lo\n    }`,
      '    track_file {\n        olb_health\n    }',
      '}',
    ]),
    '',
  ].join('\n');
}

void test('real keepalived 2.2.7 notify lines parse: every state, MASTER_RX_LOWER_PRI, odd instance names', async (t) => {
  const sb = createSandbox();
  const closers: (() => void)[] = [];
  t.after(async () => {
    for (const c of closers) c();
    await sb.cleanup();
  });
  const work = await mkdtemp(join(tmpdir(), 'olb-notify-real-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const setup = AbortSignal.timeout(30_000);
  const nsA = await sb.addNamespace('a', { signal: setup });
  const nsB = await sb.addNamespace('b', { signal: setup });
  await sb.addVeth({ ns: nsA, ifname: 'eth0', address: '10.9.0.1/24' }, { ns: nsB, ifname: 'eth0', address: '10.9.0.2/24' }, { signal: setup });

  const prepare = async (name: 'a' | 'b', priority: number, self: string, peer: string): Promise<{ fifo: string; track: string }> => {
    const fifo = join(work, `${name}.fifo`);
    const track = join(work, `${name}.track`);
    const conf = join(work, `${name}.conf`);
    await writeFile(conf, config({ fifo, track, priority, self, peer }));
    await writeFile(track, '0\n');
    await run(['mkfifo', '-m', '0600', fifo], { signal: setup });
    return { fifo, track };
  };
  const a = await prepare('a', 200, '10.9.0.1', '10.9.0.2');
  const b = await prepare('b', 100, '10.9.0.2', '10.9.0.1');

  // Node a's FIFO, raw: every line exactly as keepalived wrote it.
  const rawA: string[] = [];
  {
    const socket = new Socket({ fd: openSync(a.fifo, constants.O_RDWR | constants.O_NONBLOCK), readable: true, writable: false });
    createInterface({ input: socket, crlfDelay: Infinity }).on('line', (l) => rawA.push(l));
    closers.push(() => socket.destroy());
  }
  // Node b's FIFO through the agent's reader.
  const fromB: VrrpTransition[] = [];
  const unknownB: string[] = [];
  const readerStop = new AbortController();
  closers.push(() => readerStop.abort());
  const readingB = (async () => {
    for await (const tr of readNotifyFifo(b.fifo, { signal: readerStop.signal, onUnknownLine: (l) => unknownB.push(l) })) fromB.push(tr);
  })();

  const spawnKeepalived = (ns: string, name: string): SandboxProcess => sb.spawn(ns, [
    'keepalived', '--vrrp', '--dont-fork', '--log-console', '--log-detail', '--no-syslog',
    '-f', join(work, `${name}.conf`), '-p', join(work, `${name}.pid`), '-r', join(work, `${name}-vrrp.pid`), '-c', join(work, `${name}-checkers.pid`),
  ]);
  const procA = spawnKeepalived(nsA, 'a');
  const procB = spawnKeepalived(nsB, 'b');

  const describe = (): string => `--- a FIFO:\n${rawA.join('\n')}\n--- b (parsed):\n${fromB.map(formatNotifyLine).join('\n')}\n--- a keepalived:\n${procA.output()}\n--- b keepalived:\n${procB.output()}`;
  const lastState = (lines: readonly VrrpTransition[], name: string): string | undefined =>
    lines.filter((l) => l.name === name && l.state !== 'MASTER_RX_LOWER_PRI').at(-1)?.state;
  const parsedA = (): VrrpTransition[] => rawA.map((l) => parseNotifyLine(l)).filter((x): x is VrrpTransition => x !== null);
  const waitUntil = async (what: string, cond: () => boolean, options: { allowExitOfA?: boolean } = {}): Promise<void> => {
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
      for (const [n, p] of [['a', procA], ['b', procB]] as const) {
        if ((n === 'b' || options.allowExitOfA !== true) && (p.child.exitCode !== null || p.child.signalCode !== null)) assert.fail(`keepalived ${n} exited while waiting for ${what}\n${describe()}`);
      }
      if (cond()) return;
      await sleep(20);
    }
    assert.fail(`timed out after ${WAIT_MS} ms waiting for ${what}\n${describe()}`);
  };
  const allOf = (lines: () => readonly VrrpTransition[], state: string): (() => boolean) => () => INSTANCES.every((i) => lastState(lines(), i.name) === state);
  const writeTrack = async (value: '0' | '1'): Promise<void> => {
    await writeFile(`${a.track}.tmp`, `${value}\n`);
    await rename(`${a.track}.tmp`, a.track);
  };

  // a (200) wins every instance, b (100) backs up.
  await waitUntil('a MASTER, b BACKUP', () => allOf(parsedA, 'MASTER')() && allOf(() => fromB, 'BACKUP')());
  // FAULT by the track file, then back.
  await writeTrack('1');
  await waitUntil('a FAULT, b MASTER', () => allOf(parsedA, 'FAULT')() && allOf(() => fromB, 'MASTER')());
  await writeTrack('0');
  await waitUntil('a MASTER again, b BACKUP', () => allOf(parsedA, 'MASTER')() && allOf(() => fromB, 'BACKUP')());
  // A one-way partition: a's frames to b go to a bogus MAC (b's kernel drops them), b's still
  // reach a. b hears no master and takes over; a, still MASTER, hears b's lower-priority adverts
  // and writes MASTER_RX_LOWER_PRI (one per advert). Then healed: b hears a again and yields.
  const signal = AbortSignal.timeout(10_000);
  const beforeCut = rawA.length;
  await sb.exec(nsA, ['ip', 'neigh', 'replace', '10.9.0.2', 'lladdr', '02:00:00:00:00:01', 'dev', 'eth0', 'nud', 'permanent'], { signal });
  await waitUntil('b MASTER while it does not hear a', allOf(() => fromB, 'MASTER'));
  await waitUntil('MASTER_RX_LOWER_PRI for every instance on a', () => INSTANCES.every((i) =>
    rawA.slice(beforeCut).map((l) => parseNotifyLine(l)).some((p) => p?.name === i.name && p.state === 'MASTER_RX_LOWER_PRI')));
  await sb.exec(nsA, ['ip', 'neigh', 'del', '10.9.0.2', 'dev', 'eth0'], { signal });
  await waitUntil('b BACKUP after the heal', allOf(() => fromB, 'BACKUP'));
  // STOP: keepalived a stops (SIGTERM) and says so for every instance.
  procA.child.kill('SIGTERM');
  await waitUntil('a STOP', allOf(parsedA, 'STOP'), { allowExitOfA: true });

  // Every line keepalived wrote parses, names exactly as configured, and round-trips.
  const wrote = rawA.filter((l) => l !== '');
  for (const line of wrote) {
    const p = parseNotifyLine(line);
    assert.ok(p !== null, `unparsed line ${JSON.stringify(line)}\n${describe()}`);
    assert.equal(formatNotifyLine(p), line);
    assert.ok(INSTANCES.some((i) => i.name === p.name), `unexpected name in ${JSON.stringify(line)}`);
    assert.equal(p.kind, 'INSTANCE');
    assert.equal(p.priority, 200, line);
  }
  // Per instance, the states in order (repeated events folded): what the agent must follow.
  for (const i of INSTANCES) {
    const seq = parsedA().filter((p) => p.name === i.name).map((p) => p.state).filter((s, k, all) => k === 0 || s !== all[k - 1]);
    const wanted = ['MASTER', 'FAULT', 'MASTER', 'MASTER_RX_LOWER_PRI', 'STOP'];
    let at = 0;
    for (const s of seq) if (s === wanted[at]) at++;
    assert.equal(at, wanted.length, `${i.name}: ${seq.join(' ')} does not contain ${wanted.join(' ')} in order\n${describe()}`);
    assert.equal(seq[0], 'BACKUP', `${i.name} starts BACKUP: ${seq.join(' ')}`);
  }
  assert.deepEqual(unknownB, [], 'every line of b parsed');
  assert.ok(fromB.every((tr) => tr.priority === 100));
  readerStop.abort();
  await readingB;
  if (process.env['KEEPALIVED_TEST_LOG'] === '1') process.stderr.write(`${describe()}\n`);
});
