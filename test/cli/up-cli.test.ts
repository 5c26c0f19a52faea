/**
 * `overlay-lb up`'s own refusals as a person meets them (the real CLI, a child process), before
 * any cloud call: one line with the fix and the code, never a stack trace. Against the lab:
 * test/provision/up-lab.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { STACK_FRAME_RE, runCliProcess } from './cli-process.js';
import { timeoutSignal } from '../../src/util/abort.js';

const PROVISION = fileURLToPath(new URL('../../../examples/provision.yaml', import.meta.url));
const DEMO = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));

void test('up refuses bad invocations with one line each, naming the fix, before calling any API', async () => {
  const cases: [string[], number, RegExp][] = [
    [[PROVISION, '--package', PROVISION, '--plan', '--yes'], 64, /^overlay-lb up: --plan only shows the plan and --yes applies it; give one of them \[CLI_USAGE\]\n$/],
    [[PROVISION], 64, /^overlay-lb up: --package DEB is required: the Debian package the nodes install \(build it with scripts\/build-deb\.sh\) \[CLI_USAGE\]\n$/],
    [[PROVISION, '--package', PROVISION, '--endpoint-url', 'ftp://x'], 64, /^overlay-lb up: --endpoint-url "ftp:\/\/x" is not an http\(s\) URL, for example http:\/\/127\.0\.0\.1:4566\/ \[CLI_USAGE\]\n$/],
    [[DEMO, '--package', PROVISION], 1, /^overlay-lb up: .*demo\.yaml has no provision section: add one with imageId, clients and bucket \(docs\/spec\.md, "provision"\) \[SPEC_REQUIRED\]\n$/],
    [[PROVISION, '--package', '/nonexistent/overlay-lb.deb'], 1, /^overlay-lb up: --package "\/nonexistent\/overlay-lb\.deb": .*give the \.deb that scripts\/build-deb\.sh wrote \(its path is the last line it prints\) \[PATH_INVALID\]\n$/],
    [['/nonexistent/spec.yaml', '--package', PROVISION], 1, /^overlay-lb up: cannot read spec \/nonexistent\/spec\.yaml: .*\[FILE_READ\]\n$/],
  ];
  for (const [args, code, stderr] of cases) {
    const r = await runCliProcess(['up', ...args], { deadline: timeoutSignal(60_000) });
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr, args.join(' '));
    assert.doesNotMatch(r.stderr, STACK_FRAME_RE);
    assert.equal(r.stdout, '');
  }
  const help = await runCliProcess(['up', '--help'], { deadline: timeoutSignal(60_000) });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: overlay-lb up SPEC --package DEB \[--plan \| --yes\] \[--json\] \[--endpoint-url URL\]/);
  // What up provisions, in the help's words (it no longer lists kinds still to come).
  assert.match(help.stdout, /the nodes' security group, one instance\nper node \(booting from user-data that installs the package and starts the agent\) and the VIP\nroute in every route table the spec selects\./);
});
