/**
 * `overlay-lb down`'s own refusals as a person meets them (the real CLI, a child process), before
 * any cloud call: one line with the fix and the code, never a stack trace. Against the lab:
 * test/provision/down-lab.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { STACK_FRAME_RE, runCliProcess } from './cli-process.js';
import { timeoutSignal } from '../../src/util/abort.js';

const PROVISION = fileURLToPath(new URL('../../../examples/provision.yaml', import.meta.url));
const DEMO = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));

void test('down refuses bad invocations with one line each, naming the fix, before calling any API', async () => {
  const cases: [string[], number, RegExp][] = [
    [[PROVISION, '--plan', '--yes'], 64, /^overlay-lb down: --plan only shows the plan and --yes removes; give one of them \[CLI_USAGE\]\n$/],
    [[PROVISION, '--endpoint-url', 'ftp://x'], 64, /^overlay-lb down: --endpoint-url "ftp:\/\/x" is not an http\(s\) URL, for example http:\/\/127\.0\.0\.1:4566\/ \[CLI_USAGE\]\n$/],
    [[PROVISION, '--package', 'x.deb'], 64, /^overlay-lb down: Unknown option '--package'\. See: overlay-lb down --help \[CLI_USAGE\]\n$/],
    [[], 64, /^overlay-lb down: expected exactly one spec, got none\. Usage: overlay-lb down SPEC \.\.\. \[CLI_USAGE\]\n$/],
    [[DEMO], 1, /^overlay-lb down: .*demo\.yaml has no provision section: add one with imageId, clients and bucket \(docs\/spec\.md, "provision"\) \[SPEC_REQUIRED\]\n$/],
    [['/nonexistent/spec.yaml'], 1, /^overlay-lb down: cannot read spec \/nonexistent\/spec\.yaml: .*\[FILE_READ\]\n$/],
  ];
  for (const [args, code, stderr] of cases) {
    const r = await runCliProcess(['down', ...args], { deadline: timeoutSignal(60_000) });
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr, args.join(' '));
    assert.doesNotMatch(r.stderr, STACK_FRAME_RE);
    assert.equal(r.stdout, '');
  }
  const help = await runCliProcess(['down', '--help'], { deadline: timeoutSignal(60_000) });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: overlay-lb down SPEC \[--plan \| --yes\] \[--json\] \[--force\] \[--endpoint-url URL\]/);
  const main = await runCliProcess(['--help'], { deadline: timeoutSignal(60_000) });
  assert.match(main.stdout, /\n {2}down {7}remove exactly what up made for the spec/);
});
