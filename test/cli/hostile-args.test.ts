/**
 * Every command of the real CLI (a child process) with hostile arguments: missing files,
 * directories where files are expected and the reverse, /proc, /sys and /dev paths, unknown flags,
 * bad numbers. Each must end promptly with one line on stderr that names the value, with the
 * status of a user error, no stack trace and never "report it" (a user's mistake is not a bug).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STACK_FRAME_RE, runCliProcess } from './cli-process.js';
import { timeoutSignal } from '../../src/util/abort.js';

const DEMO = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));

interface Case {
  readonly args: readonly string[];
  readonly code: number;
  /** stderr must match (the value and the error code). */
  readonly err: RegExp;
}

void test('hostile arguments: one-line user errors naming the value, no stack trace, no "report it"', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-cli-hostile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'a-file');
  const subdir = join(dir, 'a-dir');
  await writeFile(file, 'not a spec: [');
  await mkdir(subdir);
  const missing = join(dir, 'missing');
  const demo = await readFile(DEMO, 'utf8');
  const certSpec = join(dir, 'cert.yaml');
  await writeFile(certSpec, demo.replace('      - { address: vip, port: 80 }\n', `      - { address: vip, port: 80 }\n      - { address: vip, port: 443, tls: { certificates: [${join(dir, 'missing.pem')}] } }\n`));
  const garbagePem = join(dir, 'garbage.pem');
  await writeFile(garbagePem, 'not a certificate\n');
  const garbageCertSpec = join(dir, 'garbage-cert.yaml');
  await writeFile(garbageCertSpec, demo.replace('      - { address: vip, port: 80 }\n', `      - { address: vip, port: 80 }\n      - { address: vip, port: 443, tls: { certificates: [${garbagePem}] } }\n`));
  const logSpec = join(dir, 'log.yaml');
  await writeFile(logSpec, demo.replace('    forwardedFor: true\n', '    forwardedFor: true\n    accessLog: { custom: "%[src,nosuchconverter]" }\n'));
  assert.notEqual(await readFile(certSpec, 'utf8'), demo);
  assert.notEqual(await readFile(logSpec, 'utf8'), demo);
  const out = join(dir, 'out');

  const cases: Case[] = [
    { args: ['no-such-command'], code: 64, err: /unknown command "no-such-command"/ },
    // validate (the spec loader every command shares)
    { args: ['validate', missing], code: 1, err: /cannot read spec .*missing: no such file or directory.* \[FILE_READ\]$/ },
    { args: ['validate', subdir], code: 1, err: /cannot read spec .*a-dir: it is a directory.* \[FILE_READ\]$/ },
    { args: ['validate', join(file, 'x')], code: 1, err: /a-file\/x: a part of the path is a file.* \[FILE_READ\]$/ },
    { args: ['validate', '/dev/zero'], code: 1, err: /\/dev\/zero: it is a device, not a file.* \[FILE_READ\]$/ },
    { args: ['validate', '/proc/no-such-thing'], code: 1, err: /\/proc\/no-such-thing: no such file/ },
    { args: ['validate', ''], code: 1, err: /cannot read spec : no such file/ },
    { args: ['validate', DEMO, '--bogus'], code: 64, err: /^overlay-lb validate: Unknown option '--bogus'\. See: overlay-lb validate --help \[CLI_USAGE\]$/ },
    { args: ['validate'], code: 64, err: /expected exactly one spec, got none/ },
    { args: ['validate', DEMO, DEMO], code: 64, err: /expected exactly one spec, got ".*demo.yaml" ".*demo.yaml"/ },
    // render
    { args: ['render', DEMO, '--node', 'lb-a', '--out', file], code: 1, err: /--out ".*a-file": it is a file, not a directory.* \[PATH_INVALID\]$/ },
    { args: ['render', DEMO, '--node', 'lb-a', '--out', '/dev/null'], code: 1, err: /--out "\/dev\/null": \/dev is a kernel file system.* \[PATH_INVALID\]$/ },
    { args: ['render', DEMO, '--node', 'lb-a', '--out', '/dev/null/x'], code: 1, err: /--out "\/dev\/null\/x".* \[PATH_INVALID\]$/ },
    { args: ['render', DEMO, '--node', 'lb-a', '--out', '/proc/x'], code: 1, err: /--out "\/proc\/x": \/proc is a kernel file system.* \[PATH_INVALID\]$/ },
    { args: ['render', DEMO, '--node', 'lb-a', '--out', '/sys/x'], code: 1, err: /--out "\/sys\/x".* \[PATH_INVALID\]$/ },
    { args: ['render', DEMO, '--node', 'lb-a', '--out', join(file, 'sub')], code: 1, err: /a-file is a file, not a directory.* \[PATH_INVALID\]$/ },
    { args: ['render', DEMO, '--node', 'lb-a', '--out', ''], code: 64, err: /--out needs a directory/ },
    { args: ['render', DEMO, '--node', 'lb-a'], code: 64, err: /--out DIR is required/ },
    { args: ['render', DEMO, '--out', out], code: 64, err: /--node NAME is required/ },
    { args: ['render', DEMO, '--node', 'lb-z', '--out', out], code: 1, err: /node "lb-z" is not in the spec.* \[SPEC_NODE\]$/ },
    { args: ['render', DEMO, '--node', 'lb-a', '--out', out, '--validate'], code: 64, err: /Unknown option '--validate'/ },
    { args: ['render', certSpec, '--node', 'lb-a', '--out', out], code: 1, err: /binds\[1\]\.tls\.certificates\[0\]: cannot read certificate .*missing\.pem: no such file or directory.*--no-validate.* \[TLS_CERTIFICATE\]$/ },
    { args: ['render', garbageCertSpec, '--node', 'lb-a', '--out', out], code: 1, err: /unable to load certificate from file '.*garbage\.pem'.* \[TLS_CERTIFICATE\]$/ },
    { args: ['render', logSpec, '--node', 'lb-a', '--out', out], code: 1, err: /custom access log format.*unknown converter 'nosuchconverter'.* \[LOG_FORMAT_INVALID\]$/ },
    // explain
    { args: ['explain', DEMO, '--source', '999.1.1.1'], code: 1, err: /source "999\.1\.1\.1" is not an IPv4 address.* \[EXPLAIN_REQUEST\]$/ },
    { args: ['explain', DEMO, '--header', 'no colon'], code: 64, err: /--header "no colon" is not 'Name: value'/ },
    { args: ['explain', DEMO, '--frontend', 'nope'], code: 1, err: /frontend "nope" is not in the spec/ },
    { args: ['explain', DEMO, '--path', 'a b'], code: 1, err: /path "a b" is not an origin-form request target/ },
    { args: ['explain', DEMO, '--header'], code: 64, err: /Option '--header <value>' argument missing/ },
    // apply
    { args: ['apply', DEMO, '--node', 'lb-a', '--run-dir', '/proc/x'], code: 1, err: /--run-dir "\/proc\/x".* \[PATH_INVALID\]$/ },
    { args: ['apply', DEMO, '--node', 'lb-a', '--run-dir', file], code: 1, err: /--run-dir ".*a-file": it is a file, not a directory.* \[PATH_INVALID\]$/ },
    { args: ['apply', DEMO, '--node', 'lb-a', '--run-dir', missing], code: 1, err: /--run-dir ".*missing": no such directory.* \[PATH_INVALID\]$/ },
    { args: ['apply', DEMO, '--node', 'lb-a', '--run-dir', ' '], code: 64, err: /--run-dir DIR is required/ },
    // agent (each of these fails before anything starts)
    { args: ['agent', '--spec', DEMO, '--node', 'lb-a', '--log-level', 'loud'], code: 64, err: /--log-level "loud" is not one of debug, info, warn, error/ },
    { args: ['agent', '--spec', DEMO, '--node', 'lb-a', '--run-dir', '/proc/x'], code: 1, err: /--run-dir "\/proc\/x".* \[PATH_INVALID\]$/ },
    { args: ['agent', '--spec', DEMO, '--node', 'lb-a', '--run-dir', file], code: 1, err: /--run-dir ".*a-file": it is a file.* \[PATH_INVALID\]$/ },
    { args: ['agent', '--spec', subdir, '--node', 'lb-a', '--run-dir', join(dir, 'run')], code: 1, err: /a-dir: it is a directory.* \[FILE_READ\]$/ },
    { args: ['agent', '--spec', DEMO], code: 64, err: /--node NAME is required/ },
    // switchover and status
    { args: ['switchover', '--spec', DEMO, '--to', 'lb-b', '--drain-timeout', 'abc', '--run-dir-template', '/x/{node}'], code: 64, err: /--drain-timeout "abc" is not a number of seconds/ },
    { args: ['switchover', '--spec', DEMO, '--to', 'lb-b', '--drain-timeout', '0', '--run-dir-template', '/x/{node}'], code: 64, err: /--drain-timeout "0" is not a number of seconds/ },
    { args: ['switchover', '--spec', DEMO, '--to', 'lb-b', '--drain-timeout', '1e9', '--run-dir-template', '/x/{node}'], code: 64, err: /--drain-timeout "1e9" is not a number of seconds/ },
    { args: ['switchover', '--spec', DEMO, '--to', 'lb-b', '--run-dir-template', subdir], code: 64, err: /has no \{node\} placeholder/ },
    { args: ['switchover', '--spec', DEMO, '--to', 'lb-b', '--lab-prefix', 'x-', '--lab-state-dir', '/proc/x'], code: 1, err: /--lab-state-dir "\/proc\/x".* \[PATH_INVALID\]$/ },
    { args: ['switchover', '--spec', DEMO, '--run-dir-template', '/x/{node}'], code: 64, err: /--to NODE is required/ },
    { args: ['status', '--spec', DEMO], code: 64, err: /say where the agents' run dirs are/ },
    { args: ['status', '--spec', missing, '--run-dir-template', '/x/{node}'], code: 1, err: /cannot read spec .*missing.* \[FILE_READ\]$/ },
    { args: ['status', '--spec', DEMO, '--lab-prefix', 'x-', '--lab-state-dir', file], code: 1, err: /--lab-state-dir ".*a-file": it is a file.* \[PATH_INVALID\]$/ },
    // lab (each of these fails before anything is built)
    { args: ['lab', 'bogus'], code: 64, err: /lab: unknown command "bogus"/ },
    { args: ['lab', 'up', '--azs', '5'], code: 64, err: /--azs 5 is not allowed: use 2 or 3/ },
    { args: ['lab', 'up', '--spec', subdir], code: 1, err: /a-dir: it is a directory.* \[FILE_READ\]$/ },
    { args: ['lab', 'up', '--state-dir', '/proc/x'], code: 1, err: /--state-dir "\/proc\/x".* \[PATH_INVALID\]$/ },
    { args: ['lab', 'status', '--state-dir', file], code: 1, err: /--state-dir ".*a-file": it is a file.* \[PATH_INVALID\]$/ },
    { args: ['lab', 'serve', '--state-file', '/dev/zero'], code: 1, err: /--state-file "\/dev\/zero": it is a device or a pipe.* \[PATH_INVALID\]$/ },
    { args: ['lab', 'serve', '--state-file', subdir], code: 1, err: /--state-file ".*a-dir": it is a directory.* \[PATH_INVALID\]$/ },
    { args: ['lab', 'fault', 'api-latency', '--ms', 'abc', '--state-dir', subdir], code: 64, err: /--ms "abc" is not allowed: give a number of milliseconds/ },
    { args: ['lab', 'fault', 'api-errors', '--rate', '2', '--state-dir', subdir], code: 64, err: /--rate "2" is not allowed: give a fraction from 0 to 1/ },
    { args: ['lab', 'fault', 'api-latency', '--ms', '5', '--state-dir', subdir], code: 1, err: /no lab is up.* \[LAB_NOT_FOUND\]$/ },
    { args: ['lab', 'exec', '--state-dir', subdir], code: 64, err: /usage: overlay-lb lab exec NODE/ },
  ];
  for (const c of cases) {
    const r = await runCliProcess(c.args, { deadline: timeoutSignal(60_000) });
    const what = `overlay-lb ${c.args.map((a) => JSON.stringify(a)).join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(r.signal, null, what);
    assert.equal(r.code, c.code, what);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `one line on stderr: ${what}`);
    assert.match(lines[0] ?? '', c.err, what);
    assert.doesNotMatch(r.stderr, STACK_FRAME_RE, what);
    assert.doesNotMatch(r.stderr, /report it|internal error/i, what);
  }
});

void test('render on a machine without the node\'s VRRP interface: a warning, the files are written', async (t) => {
  // GIVEN a spec whose node names an interface that does not exist here (it does on the node)
  const dir = await mkdtemp(join(tmpdir(), 'olb-cli-iface-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const spec = join(dir, 'spec.yaml');
  const demo = await readFile(DEMO, 'utf8');
  await writeFile(spec, demo.replace('- { name: lb-a, address: 10.0.1.10, zone: az-a }', '- { name: lb-a, address: 10.0.1.10, zone: az-a, interface: olbnosuch0 }'));
  assert.match(await readFile(spec, 'utf8'), /olbnosuch0/);
  // WHEN it is rendered with the tools' checks
  const r = await runCliProcess(['render', spec, '--node', 'lb-a', '--out', join(dir, 'out'), '--require-tools'], { deadline: timeoutSignal(60_000) });
  // THEN it succeeds with keepalived's words as a warning, naming the final path, not the staging one
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /keepalived --config-test: passed with a warning: the VRRP interface does not exist on this machine/);
  assert.match(r.stdout, /interface olbnosuch0 for vrrp_instance .* doesn't exist/);
  assert.doesNotMatch(r.stdout, /\.staging-/);
  assert.match(await readFile(join(dir, 'out', 'keepalived.conf'), 'utf8'), /interface olbnosuch0/);
});
