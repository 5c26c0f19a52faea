/**
 * `overlay-lb doctor`'s own refusals as a person meets them (the real CLI, a child process): one
 * line with the fix and the code, never a stack trace, the CLI's exit statuses. Against the lab:
 * test/provision/doctor-lab.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STACK_FRAME_RE, runCliProcess } from './cli-process.js';
import { timeoutSignal } from '../../src/util/abort.js';

const DEMO = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));

void test('doctor refuses bad invocations with one line each, naming the fix; an API that does not answer is one line too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olbd-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const none = join(dir, 'none.yaml');
  await writeFile(none, `cluster:
  name: shop
  vip: 192.168.100.10
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
    - { name: lb-b, address: 10.0.2.10, zone: az-b }
  cloud: { provider: none }
frontends:
  - { name: web, binds: [{ address: vip, port: 80 }], defaultBackend: app }
backends:
  - { name: app, servers: [{ name: s1, address: 10.0.11.11, port: 8080 }] }
`);
  const cases: [string[], number, RegExp][] = [
    [[], 64, /^overlay-lb doctor: expected exactly one spec, got none\. Usage: overlay-lb doctor SPEC \.\.\. \[CLI_USAGE\]\n$/],
    [[DEMO, '--endpoint-url', 'ftp://x'], 64, /^overlay-lb doctor: --endpoint-url "ftp:\/\/x" is not an http\(s\) URL, for example http:\/\/127\.0\.0\.1:4566\/ \[CLI_USAGE\]\n$/],
    [[DEMO, '--imds-endpoint', 'http://169.254.169.254'], 64, /^overlay-lb doctor: --imds-endpoint only counts with --local \(the checks run on a node\) \[CLI_USAGE\]\n$/],
    [[DEMO, '--node', 'lb-z'], 64, /^overlay-lb doctor: --node "lb-z" is not a node of .*demo\.yaml; its nodes: lb-a, lb-b \[CLI_USAGE\]\n$/],
    [[DEMO, '--bogus'], 64, /^overlay-lb doctor: Unknown option '--bogus'\. See: overlay-lb doctor --help \[CLI_USAGE\]\n$/],
    [[none], 1, /^overlay-lb doctor: .*none\.yaml: cluster\.cloud\.provider is none: doctor checks a cluster in a cloud; set provider aws \(or lab\) with region and vpcId \[SPEC_REQUIRED\]\n$/],
    [['/nonexistent/spec.yaml'], 1, /^overlay-lb doctor: cannot read spec \/nonexistent\/spec\.yaml: .*\[FILE_READ\]\n$/],
    // Nothing listens on port 1 of loopback: refused at once.
    [[DEMO, '--endpoint-url', 'http://127.0.0.1:1/'], 1, /^overlay-lb doctor: ec2:DescribeVpcs: .*ECONNREFUSED.*; the EC2 API at http:\/\/127\.0\.0\.1:1\/ did not answer: check --endpoint-url \(or cluster\.cloud\.endpoint\) and this machine's network, then run doctor again \[CLOUD_UNAVAILABLE\]\n$/],
  ];
  for (const [args, code, stderr] of cases) {
    const r = await runCliProcess(['doctor', ...args], { deadline: timeoutSignal(90_000), env: { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_EC2_METADATA_DISABLED: 'true' } });
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr, args.join(' '));
    assert.doesNotMatch(r.stderr, STACK_FRAME_RE);
    assert.equal(r.stdout, '');
  }
  const help = await runCliProcess(['doctor', '--help'], { deadline: timeoutSignal(60_000) });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: overlay-lb doctor SPEC \[--json\] \[--endpoint-url URL\] \[--node NAME\] \[--local \[--imds-endpoint URL\]\]/);
  const main = await runCliProcess(['--help'], { deadline: timeoutSignal(60_000) });
  assert.match(main.stdout, /\n {2}doctor {5}read-only checks of what failover needs, each problem with its fix\n/);
});
