/**
 * A fixed response's bodyFile (issue 21): render names a missing or too large file as the user's
 * BODY_FILE error, and a file at the limit passes the real `haproxy -c`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MAX_BODY_FILE_BYTES, renderNodeFiles } from '../../src/ops/render.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { OverlayError } from '../../src/util/errors.js';

function spec(bodyFile: string, dir: string) {
  const r = parseSpec(
    `cluster:
  name: t
  vip: 192.168.100.10
  nodes: [{ name: lb-a, address: 127.0.0.1, zone: az-a }]
admin:
  runtimeSocket: ${dir}/rt.sock
  masterSocket: ${dir}/m.sock
  stateDir: ${dir}
frontends:
  - name: web
    binds: [{ address: 127.0.0.1, port: 18080 }]
    defaultBackend: app
    routes:
      - { when: [{ path: { exact: /robots.txt } }], respond: { status: 200, bodyFile: ${bodyFile} } }
backends:
  - name: app
    servers: [{ name: s1, address: 127.0.0.1, port: 8080 }]
`,
    { file: 't.yaml' },
  );
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return r;
}

void test('bodyFile: missing and too large are BODY_FILE user errors; at the limit haproxy -c accepts it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-body-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const render = async (file: string) => {
    const s = spec(file, dir);
    return renderNodeFiles(s.spec, s.hash, { node: 'lb-a', outDir: join(dir, 'out'), validate: 'require', signal: AbortSignal.timeout(60_000) });
  };
  await assert.rejects(render(join(dir, 'missing.txt')), (err: unknown) => {
    assert.ok(err instanceof OverlayError);
    assert.equal(err.code, 'BODY_FILE');
    assert.equal(err.message, `frontends[0] (web).routes[0] (route-1).respond.bodyFile: cannot read ${dir}/missing.txt: no such file or directory; put the body there, or render with --no-validate when it exists only on the node`);
    return true;
  });
  await writeFile(join(dir, 'big.txt'), 'a'.repeat(MAX_BODY_FILE_BYTES + 1));
  await assert.rejects(render(join(dir, 'big.txt')), (err: unknown) => err instanceof OverlayError && err.code === 'BODY_FILE' && err.message.includes("big.txt is 15361 bytes; a fixed response's body file may hold at most 15360"));
  await writeFile(join(dir, 'ok.txt'), 'a'.repeat(MAX_BODY_FILE_BYTES));
  await render(join(dir, 'ok.txt'));
});
