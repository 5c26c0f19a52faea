/**
 * The agent's log drain (`admin.accessLog: file`) on a real FIFO, without haproxy: rotation by
 * size between lines, the bound on kept files, a line longer than the limit, lines written while
 * no drain runs, the pipe enlarged to 1 MiB, and everything read written out on stop.
 */
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOG_BATCH_MS, LOG_PIPE_BYTES, drainLogFifo, enlargePipe } from '../../src/agent/log-file.js';
import { runCommand } from '../../src/util/exec.js';
import { createLogger } from '../../src/util/log.js';

const MIB = 1024 * 1024;

async function setup(t: TestContext): Promise<{ dir: string; fifo: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'olb-logfile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'x.fifo');
  await runCommand(['mkfifo', '-m', '0600', fifo]);
  return { dir, fifo, file: join(dir, 'logs', 'access.log') };
}

/** Line `i`: `<i> <padding>\n`, `size` bytes in all. */
function line(i: number, size: number): string {
  const head = `${i} `;
  return `${head}${'x'.repeat(size - head.length - 1)}\n`;
}

/** Waits (60 s at most) until `file` ends with `tail`. */
async function waitEnd(file: string, tail: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await readFile(file, 'utf8').catch(() => '')).endsWith(tail) && Date.now() < deadline) await sleep(20);
}

void test('rotation: files never pass maxBytes, end with whole lines, keep bounds them, the newest lines survive in order', async (t) => {
  const { fifo, file } = await setup(t);
  const logged: string[] = [];
  const ac = new AbortController();
  const run = drainLogFifo({ fifo, file, maxBytes: MIB, keep: 2, signal: ac.signal, log: createLogger({ write: (l) => logged.push(l) }) });
  // 5,000 lines of 1,000 bytes: about 4.8 MiB, so 4 rotations, of which 2 files are kept.
  const writer = await open(fifo, constants.O_WRONLY);
  const COUNT = 5000;
  for (let i = 0; i < COUNT; i += 100) {
    await writer.write(Array.from({ length: 100 }, (_, k) => line(i + k, 1000)).join(''));
  }
  await writer.close();
  await waitEnd(file, line(COUNT - 1, 1000));
  ac.abort();
  await run;
  assert.equal(await stat(`${file}.3`).then(() => true, () => false), false, 'keep 2: no third rotated file');
  const texts = await Promise.all([`${file}.2`, `${file}.1`, file].map((f) => readFile(f, 'utf8')));
  for (const [i, text] of texts.entries()) {
    assert.ok(Buffer.byteLength(text) <= MIB, `file ${i} is ${Buffer.byteLength(text)} bytes`);
    assert.ok(text.endsWith('\n'), `file ${i} ends with a whole line`);
  }
  const numbers = texts.join('').split('\n').filter((l) => l !== '').map((l) => {
    assert.equal(l.length, 999, 'a whole line');
    return Number(l.split(' ')[0]);
  });
  assert.equal(numbers.at(-1), COUNT - 1, 'the newest line is there');
  assert.deepEqual(numbers, numbers.map((_, k) => (numbers[0] ?? 0) + k), 'the kept lines are one run, in order, none missing or doubled');
  assert.equal(numbers.length, 1048 + 1048 + (COUNT % 1048), 'two full files (1,048 lines of 1,000 bytes in 1 MiB) and the rest');
  assert.equal(logged.filter((l) => l.includes('"event":"log-rotated"')).length, 4);
});

void test('a line longer than maxBytes gets a file of its own; a partial line read before a stop is written out', async (t) => {
  const { fifo, file } = await setup(t);
  const ac = new AbortController();
  const run = drainLogFifo({ fifo, file, maxBytes: 10_000, keep: 3, signal: ac.signal, log: createLogger({ write: () => undefined }) });
  const writer = await open(fifo, constants.O_WRONLY);
  const long = `${'L'.repeat(20_000)}\n`;
  await writer.write(`a\n${long}b\nunfinished`);
  await writer.close();
  await waitEnd(file, 'b\n');
  await sleep(200);
  ac.abort();
  await run;
  assert.equal(await readFile(`${file}.2`, 'utf8'), 'a\n');
  assert.equal(await readFile(`${file}.1`, 'utf8'), long);
  assert.equal(await readFile(file, 'utf8'), 'b\nunfinished');
});

void test('lines written while no drain runs wait in the pipe (enlarged to 1 MiB) and reach the file when one starts', async (t) => {
  const { fifo, file } = await setup(t);
  // A writer holding the FIFO, as haproxy does (read-write: it never blocks or gets EPIPE).
  const holder = await open(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  t.after(() => holder.close());
  assert.equal(await enlargePipe(fifo, LOG_PIPE_BYTES, { signal: AbortSignal.timeout(10_000) }), LOG_PIPE_BYTES);
  // 900 KB: more than the default 64 KiB pipe holds, less than 1 MiB.
  const text = Array.from({ length: 900 }, (_, i) => line(i, 1000)).join('');
  const { bytesWritten } = await holder.write(text);
  assert.equal(bytesWritten, text.length, 'the whole burst fit in the pipe');
  const ac = new AbortController();
  const run = drainLogFifo({ fifo, file, maxBytes: 100 * MIB, keep: 1, signal: ac.signal, log: createLogger({ write: () => undefined }) });
  await waitEnd(file, line(899, 1000));
  ac.abort();
  await run;
  assert.equal(await readFile(file, 'utf8'), text);
});

void test('batches: lines written one write(2) each, as HAProxy does, arrive whole and in order, and the drain reads at most once per LOG_BATCH_MS', async (t) => {
  const { fifo, file } = await setup(t);
  const ac = new AbortController();
  const batches: number[] = [];
  const run = drainLogFifo({ fifo, file, maxBytes: 64 * MIB, keep: 1, signal: ac.signal, log: createLogger({ write: () => undefined }), onBatch: (bytes) => batches.push(bytes) });
  // Another process writes 20,000 lines of 200 bytes, one write each, in bursts of 500 with a
  // pause between (about 1.5 s in all on a quiet machine).
  const COUNT = 20_000;
  const script = 'open(my $f, ">>", $ARGV[0]) or die; for my $b (0..39) { for my $i ($b*500..$b*500+499) { my $h = "$i "; syswrite($f, $h . ("x" x (199 - length $h)) . "\\n") } select(undef, undef, undef, 0.03) }';
  const started = Date.now();
  const r = await runCommand(['perl', '-e', script, fifo], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  await waitEnd(file, line(COUNT - 1, 200));
  const elapsed = Date.now() - started;
  ac.abort();
  await run;
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
  assert.equal(lines.length, COUNT, 'every line, once');
  assert.ok(lines.every((l, i) => l === line(i, 200).slice(0, -1)), 'whole lines, in order');
  // Timers fire late, never early: however busy the machine, a batch needs LOG_BATCH_MS of its own.
  assert.ok(batches.length <= Math.floor(elapsed / LOG_BATCH_MS) + 1, `${batches.length} batches in ${elapsed} ms`);
  assert.ok(batches.length < COUNT / 100, `${batches.length} batches for ${COUNT} lines`);
});
