/**
 * TLS for real (issue 21, item 4): a rendered config in a real haproxy (master-worker, loopback
 * only), openssl-made CAs and certificates in a temp dir, Node's tls/https/http2 clients with a
 * server name and ALPN. Certificates chosen by SNI and the default one, the minimum version
 * refused, h2 negotiated, client certificates accepted and refused with the verified subject at
 * the backend (never a forged one), and a certificate rotated by the agent's watcher through the
 * Runtime API under bounded load with no failed request and no reload.
 */
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { ClientCertificate, Spec } from '../../src/model/spec.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { MasterCli } from '../../src/haproxy/master-cli.js';
import { watchCertificates, type CertWatchEvent } from '../../src/apply/cert-watch.js';
import { chooseSniCertificate } from '../../src/speclang/tls-names.js';
import { createLogger } from '../../src/util/log.js';
import { findFreePort, startHaproxy } from '../helpers/haproxy-process.js';
import { makeAdmin, makeBackend, makeFrontend, makeServer, makeSpec } from '../helpers/model-builders.js';
import { makeCa, makeCert, type TestCa, type TestCert } from '../helpers/tls-certs.js';

interface Echo {
  readonly port: number;
  close(): Promise<void>;
}

/** A backend answering every request with the request's headers as JSON. */
async function startEcho(): Promise<Echo> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.headers));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

interface Handshake {
  readonly ok: true;
  readonly cn: string;
  readonly serial: string;
  readonly alpn: string | false | null;
  readonly protocol: string | null;
}

/** One TLS handshake (then a read, which is where a TLS 1.3 server's refusal shows); the socket is closed. */
async function handshake(port: number, options: ConnectionOptions): Promise<Handshake | { ok: false; code: string; message: string }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...options });
    const fail = (err: NodeJS.ErrnoException): void => { s.destroy(); resolve({ ok: false, code: err.code ?? 'ERR', message: err.message }); };
    s.once('error', fail);
    s.setTimeout(10_000, () => fail(new Error('timeout')));
    s.once('secureConnect', () => {
      const cert = s.getPeerCertificate();
      const done: Handshake = { ok: true, cn: String(cert.subject.CN), serial: cert.serialNumber, alpn: s.alpnProtocol, protocol: s.getProtocol() };
      // A TLS 1.3 server refuses a client certificate after the client's Finished: ask for
      // something and see whether an answer or an alert comes back.
      s.write('GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n');
      s.once('data', () => { s.destroy(); resolve(done); });
      s.once('end', () => resolve(done));
    });
  });
}

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly serial: string;
}

/** GET / over HTTPS/1.1 on a new connection; the body is the echo backend's view of the headers. */
async function httpsGet(port: number, options: { servername: string; ca: string; cert?: string; key?: string; headers?: Record<string, string>; signal: AbortSignal }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port, path: '/', agent: false, servername: options.servername, ca: options.ca, signal: options.signal,
      ...(options.cert === undefined ? {} : { cert: options.cert }), ...(options.key === undefined ? {} : { key: options.key }),
      headers: { host: options.servername, ...options.headers },
    }, (res) => {
      const serial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, headers: JSON.parse(body) as IncomingHttpHeaders, serial });
        } catch (err) {
          reject(new Error(`status ${String(res.statusCode)}, body ${JSON.stringify(body.slice(0, 200))}`, { cause: err }));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface Pki {
  readonly serverCa: TestCa;
  readonly clientCa: TestCa;
  readonly otherCa: TestCa;
  readonly def: TestCert;
  readonly a: TestCert;
  readonly b: TestCert;
  readonly srv: TestCert;
  readonly client: TestCert;
  readonly rogue: TestCert;
}

async function makePki(dir: string, signal: AbortSignal): Promise<Pki> {
  const [serverCa, clientCa, otherCa] = await Promise.all([makeCa(dir, 'server-ca', signal), makeCa(dir, 'client-ca', signal), makeCa(dir, 'other-ca', signal)]);
  return {
    serverCa, clientCa, otherCa,
    // The default certificate also names a.test: the crt-list's `!*` keeps it from shadowing a.test's entry.
    def: await makeCert(dir, 'default.pem', { ca: serverCa, subject: '/CN=default.test', dns: ['default.test', 'a.test'], signal }),
    a: await makeCert(dir, 'a.pem', { ca: serverCa, subject: '/CN=a.test', dns: ['a.test'], signal }),
    b: await makeCert(dir, 'b.pem', { ca: serverCa, subject: '/CN=wild.b.test', dns: ['*.b.test'], signal }),
    srv: await makeCert(dir, 'srv.pem', { ca: serverCa, subject: '/CN=mtls.test', dns: ['mtls.test'], signal }),
    client: await makeCert(dir, 'client.pem', { ca: clientCa, subject: '/CN=partner one/O=Acme, Inc.', client: true, signal }),
    rogue: await makeCert(dir, 'rogue.pem', { ca: otherCa, subject: '/CN=partner one/O=Acme, Inc.', client: true, signal }),
  };
}

interface Running {
  readonly dir: string;
  readonly pki: Pki;
  readonly ports: { readonly sni: number; readonly v13: number; readonly mtls: number; readonly optional: number };
  readonly runtimeSocket: string;
  readonly masterSocket: string;
  readonly spec: Spec;
  readonly signal: AbortSignal;
}

const H2_H1 = ['h2', 'http/1.1'];

async function run(t: TestContext): Promise<Running> {
  const signal = AbortSignal.timeout(240_000);
  setMaxListeners(500, signal);
  const dir = await mkdtemp(join(tmpdir(), 'olb-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = await makePki(dir, signal);
  const echo = await startEcho();
  t.after(() => echo.close());
  const free = () => findFreePort({ host: '127.0.0.1', signal });
  const ports = { sni: await free(), v13: await free(), mtls: await free(), optional: await free() };
  const runtimeSocket = join(dir, 'runtime.sock');
  const mtls = (verify: 'required' | 'optional'): ClientCertificate => ({ ca: pki.clientCa.certFile, verify, subjectHeader: 'x-client-subject', verifiedHeader: 'x-client-verified' });
  const spec = makeSpec({
    admin: makeAdmin({ runtimeSocket, stats: { enabled: false, bind: 'localhost', port: await free() }, health: { bind: 'localhost', port: await free(), path: '/healthz' } }),
    frontends: [
      makeFrontend('web', {
        binds: [
          { address: '127.0.0.1', port: ports.sni, tls: { certificates: [], sni: { defaultCertificate: pki.def.pemFile, entries: [{ names: ['a.test'], certificate: pki.a.pemFile }, { names: ['*.b.test'], certificate: pki.b.pemFile }] }, minVersion: 'TLSv1.2', alpn: H2_H1 } },
          { address: '127.0.0.1', port: ports.v13, tls: { certificates: [pki.srv.pemFile], minVersion: 'TLSv1.3', alpn: H2_H1 } },
          { address: '127.0.0.1', port: ports.mtls, tls: { certificates: [pki.srv.pemFile], minVersion: 'TLSv1.2', alpn: H2_H1, clientCertificate: mtls('required') } },
          { address: '127.0.0.1', port: ports.optional, tls: { certificates: [pki.srv.pemFile], minVersion: 'TLSv1.2', alpn: H2_H1, clientCertificate: mtls('optional') } },
        ],
        accessLog: { enabled: false },
        defaultBackend: 'app',
      }),
    ],
    backends: [makeBackend('app', { servers: [makeServer('s1', '127.0.0.1', echo.port)] })],
  });
  const mapDir = join(dir, 'maps');
  const out = renderHaproxy(spec, { node: 'lb-a', specHash: 'test', mapDir });
  await mkdir(mapDir);
  for (const m of out.maps) await writeFile(join(mapDir, m.name), m.content);
  const configPath = join(dir, 'haproxy.cfg');
  await writeFile(configPath, out.config);
  const hp = await startHaproxy({ configPath, dir, probe: { host: '127.0.0.1', port: ports.sni }, signal });
  t.after(() => hp.stop());
  return { dir, pki, ports, runtimeSocket, masterSocket: hp.masterSocket, spec, signal };
}

void test('real haproxy: certificates by SNI and the default, minimum version, ALPN h2, client certificates and the subject header', async (t) => {
  const r = await run(t);
  const { pki, ports } = r;
  const ca = pki.serverCa.certPem;
  const tls = r.spec.frontends[0]?.binds[0]?.tls?.sni;
  assert.ok(tls);

  // SNI selection against the model's choice (what `explain --sni` prints).
  const byName: [string | undefined, TestCert, string][] = [
    ['a.test', pki.a, 'exact entry, although the default certificate names a.test too'],
    ['A.TEST', pki.a, 'names compare in lower case'],
    ['x.b.test', pki.b, 'one-label wildcard'],
    ['y.x.b.test', pki.def, 'a wildcard covers one label only'],
    ['b.test', pki.def, 'a wildcard does not cover its own base'],
    ['default.test', pki.def, 'a name inside the default certificate'],
    ['nothing.test', pki.def, 'no entry: the default'],
    [undefined, pki.def, 'no server name at all: the default'],
  ];
  for (const [name, want, why] of byName) {
    const h = await handshake(ports.sni, { ca, ...(name === undefined ? {} : { servername: name }), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    assert.ok(h.ok, `${String(name)}: ${JSON.stringify(h)}`);
    assert.equal(h.serial, want.serial, `${String(name)}: ${why}`);
    const model = chooseSniCertificate(name, tls.entries, tls.defaultCertificate);
    assert.equal(model.certificate, want.pemFile, `${String(name)}: the model (explain) agrees with haproxy`);
  }

  // ALPN: h2 preferred, http/1.1 kept, an h2 request served through the backend.
  const h2 = await handshake(ports.sni, { ca, servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.ok(h2.ok && h2.alpn === 'h2', JSON.stringify(h2));
  const h1 = await handshake(ports.sni, { ca, servername: 'a.test', ALPNProtocols: ['http/1.1'] });
  assert.ok(h1.ok && h1.alpn === 'http/1.1', JSON.stringify(h1));
  const session = h2connect(`https://127.0.0.1:${ports.sni}`, { ca, servername: 'a.test' });
  t.after(() => session.close());
  const h2Reply = await new Promise<{ status: number; body: string; alpn: string | false | undefined }>((resolve, reject) => {
    const req = session.request({ ':path': '/', ':authority': 'a.test' });
    let body = '';
    let status = 0;
    req.on('response', (hd) => (status = Number(hd[':status'])));
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve({ status, body, alpn: session.alpnProtocol }));
    req.on('error', reject);
    req.end();
  });
  assert.equal(h2Reply.alpn, 'h2');
  assert.equal(h2Reply.status, 200, h2Reply.body);

  // Minimum version: a TLS 1.2-only client is refused by the TLS 1.3 bind, served by the 1.2 one.
  const old = await handshake(ports.v13, { ca, servername: 'mtls.test', maxVersion: 'TLSv1.2' });
  assert.equal(old.ok, false, 'TLS 1.2 refused where minVersion is TLSv1.3');
  if (!old.ok) assert.match(old.code, /PROTOCOL_VERSION|ALERT/, old.message);
  const v13 = await handshake(ports.v13, { ca, servername: 'mtls.test' });
  assert.ok(v13.ok && v13.protocol === 'TLSv1.3', JSON.stringify(v13));
  const v12 = await handshake(ports.sni, { ca, servername: 'a.test', maxVersion: 'TLSv1.2' });
  assert.ok(v12.ok && v12.protocol === 'TLSv1.2', JSON.stringify(v12));

  // mTLS required: the client certificate is verified; its subject reaches the backend, and what
  // a client sends in those headers itself never does.
  const forged = { 'x-client-subject': 'CN=admin', 'x-client-verified': 'true' };
  const good = await httpsGet(ports.mtls, { servername: 'mtls.test', ca, cert: pki.client.certPem, key: pki.client.keyPem, headers: forged, signal: r.signal });
  assert.equal(good.status, 200);
  assert.equal(good.headers['x-client-verified'], 'true');
  assert.equal(good.headers['x-client-subject'], 'O=Acme\\, Inc.,CN=partner one', 'RFC 2253 subject of the verified certificate');
  for (const [what, opts] of [['no certificate', {}], ['a certificate from another CA', { cert: pki.rogue.certPem, key: pki.rogue.keyPem }]] as const) {
    const refused = await httpsGet(ports.mtls, { servername: 'mtls.test', ca, ...opts, headers: forged, signal: r.signal }).then((x) => x, (err: unknown) => err as Error);
    assert.ok(refused instanceof Error, `${what} must be refused, got ${JSON.stringify(refused)}`);
  }
  // mTLS optional: no certificate is served, marked unverified, forged headers removed.
  const anon = await httpsGet(ports.optional, { servername: 'mtls.test', ca, headers: forged, signal: r.signal });
  assert.equal(anon.status, 200);
  assert.equal(anon.headers['x-client-verified'], 'false');
  assert.equal(anon.headers['x-client-subject'], undefined, 'a forged subject never reaches the backend');
  const signed = await httpsGet(ports.optional, { servername: 'mtls.test', ca, cert: pki.client.certPem, key: pki.client.keyPem, signal: r.signal });
  assert.equal(signed.headers['x-client-verified'], 'true');
  const rogue = await httpsGet(ports.optional, { servername: 'mtls.test', ca, cert: pki.rogue.certPem, key: pki.rogue.keyPem, signal: r.signal }).then((x) => x, (err: unknown) => err as Error);
  assert.ok(rogue instanceof Error, 'optional still refuses a certificate that does not verify');
});

void test('a changed certificate file is rotated through the Runtime API under load: no failed request, no reload', async (t) => {
  const r = await run(t);
  const { pki, ports } = r;
  const ca = pki.serverCa.certPem;
  const master = new MasterCli({ socketPath: r.masterSocket });
  // The master CLI answers a moment after the listeners (the master forks the worker first).
  let before: Awaited<ReturnType<MasterCli['showProc']>> | undefined;
  for (let i = 0; before === undefined; i++) {
    before = await master.showProc({ signal: r.signal }).catch((err: unknown) => { if (i > 200) throw err; return undefined; });
    if (before === undefined) await sleep(50);
  }

  // The agent's watcher, on the files of the running spec.
  const events: CertWatchEvent[] = [];
  const reloads: string[] = [];
  const watchStop = new AbortController();
  const watching = watchCertificates({
    files: () => [pki.def.pemFile, pki.a.pemFile, pki.b.pemFile, pki.srv.pemFile],
    runtime: new RuntimeApi({ socketPath: r.runtimeSocket }),
    signal: watchStop.signal,
    log: createLogger({ level: 'error', write: () => undefined }),
    reload: (reason) => { reloads.push(reason); return Promise.resolve(); },
    onEvent: (e) => events.push(e),
    pollMs: 200,
  });
  t.after(async () => { watchStop.abort(); await watching; });

  // Bounded load: 4 clients, a new TLS connection per request, at most 6,000 requests or 90 s.
  const MAX_REQUESTS = 6000;
  const deadline = Date.now() + 90_000;
  let stop = false;
  let sent = 0;
  const failures: string[] = [];
  const served = new Map<string, number>();
  const client = async (): Promise<void> => {
    while (!stop && sent < MAX_REQUESTS && Date.now() < deadline) {
      sent++;
      try {
        const reply = await httpsGet(ports.sni, { servername: 'a.test', ca, signal: r.signal });
        if (reply.status !== 200) failures.push(`status ${reply.status}`);
        served.set(reply.serial, (served.get(reply.serial) ?? 0) + 1);
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  const load = Promise.all([client(), client(), client(), client()]);
  const waitFor = async (what: string, ok: () => boolean | Promise<boolean>): Promise<void> => {
    const until = Date.now() + 60_000;
    while (!(await ok())) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };
  try {
    await waitFor('the load to start', () => (served.get(pki.a.serial) ?? 0) >= 50);
    // GIVEN load on a.test WHEN its file is replaced (by a rename, as certificate managers do)
    const next = await makeCert(r.dir, 'a.pem', { ca: pki.serverCa, subject: '/CN=a.test', dns: ['a.test'], signal: r.signal, atomically: true });
    // THEN new handshakes get the new certificate, while the load keeps running
    await waitFor('the new certificate to be served', () => (served.get(next.serial) ?? 0) >= 50);
    const newOnes = served.get(next.serial) ?? 0;
    await waitFor('more requests after the rotation', () => (served.get(next.serial) ?? 0) >= newOnes + 50);
    stop = true;
    await load;
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${sent} requests failed`);
    assert.ok(sent < MAX_REQUESTS && Date.now() < deadline, 'the rotation happened within the load bounds');
    assert.deepEqual(events.filter((e) => e.kind === 'rotated').map((e) => [e.file, e.kind === 'rotated' ? e.via : '']), [[pki.a.pemFile, 'runtime-api']], JSON.stringify(events));
    assert.deepEqual(reloads, []);
    const after = await master.showProc({ signal: r.signal });
    assert.equal(after.master.reloads, before.master.reloads, 'no reload');
    assert.deepEqual(after.workers.map((w) => w.pid), before.workers.map((w) => w.pid), 'the same worker serves');
    // The default certificate and the other entries are untouched.
    const d = await handshake(ports.sni, { ca, servername: 'nothing.test', checkServerIdentity: () => undefined });
    assert.ok(d.ok && d.serial === pki.def.serial);

    // WHEN the file changes to something haproxy cannot load (a new certificate with the old key)
    // THEN the failure is reported and the last good certificate keeps serving.
    const other = await makeCert(r.dir, 'scratch.pem', { ca: pki.serverCa, subject: '/CN=a.test', dns: ['a.test'], signal: r.signal });
    await writeFile(`${pki.a.pemFile}.tmp`, other.certPem + next.keyPem);
    await import('node:fs/promises').then((fs) => fs.rename(`${pki.a.pemFile}.tmp`, pki.a.pemFile));
    await waitFor('the failed rotation to be reported', () => events.some((e) => e.kind === 'failed'));
    const failed = events.find((e) => e.kind === 'failed');
    assert.ok(failed?.kind === 'failed' && failed.file === pki.a.pemFile, JSON.stringify(failed));
    const still = await handshake(ports.sni, { ca, servername: 'a.test' });
    assert.ok(still.ok && still.serial === next.serial, 'the last good certificate still serves');
  } finally {
    stop = true;
    await load;
  }
});
