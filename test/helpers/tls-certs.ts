/**
 * openssl-made certificate authorities and certificates for TLS tests (ECDSA P-256: fast to make),
 * written to a test's temp dir. Every openssl call is an argument vector, never a shell line.
 */
import { execFile } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCa {
  readonly name: string;
  /** The CA certificate (PEM file), the bundle a client or HAProxy trusts. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
}

export interface TestCert {
  /** certificate + key in one PEM file, as HAProxy loads it. */
  readonly pemFile: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Upper-case hex serial, as Node's getPeerCertificate() reports it. */
  readonly serial: string;
}

/** A self-signed CA named `name` in `dir`. */
export async function makeCa(dir: string, name: string, signal: AbortSignal): Promise<TestCa> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`], { signal });
  return { name, certFile, keyFile, certPem: await readFile(certFile, 'utf8') };
}

/**
 * A certificate for `subject` (an openssl -subj string, e.g. `/CN=a.test`) with DNS names `dns`
 * signed by `ca`, written as `<dir>/<file>` (certificate then key). With `atomically`, the file is
 * replaced by a rename, as a certificate manager would.
 */
export async function makeCert(dir: string, file: string, options: { readonly ca: TestCa; readonly subject: string; readonly dns?: readonly string[]; readonly client?: boolean; readonly signal: AbortSignal; readonly atomically?: boolean }): Promise<TestCert> {
  const base = join(dir, `${file}.${Date.now()}.${Math.random().toString(16).slice(2)}`);
  const ext = [options.client === true ? 'extendedKeyUsage=clientAuth' : 'extendedKeyUsage=serverAuth', ...(options.dns && options.dns.length > 0 ? [`subjectAltName=${options.dns.map((d) => `DNS:${d}`).join(',')}`] : [])];
  await writeFile(`${base}.ext`, `${ext.join('\n')}\n`);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', options.subject], { signal: options.signal });
  const serial = `1${[...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, "0")).join("").toUpperCase().slice(1)}`;
  await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', options.ca.certFile, '-CAkey', options.ca.keyFile, '-set_serial', `0x${serial}`, '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.crt`], { signal: options.signal });
  const certPem = await readFile(`${base}.crt`, 'utf8');
  const keyPem = await readFile(`${base}.key`, 'utf8');
  const pemFile = join(dir, file);
  if (options.atomically === true) {
    await writeFile(`${base}.pem`, certPem + keyPem, { mode: 0o600 });
    await rename(`${base}.pem`, pemFile);
  } else {
    await writeFile(pemFile, certPem + keyPem, { mode: 0o600 });
  }
  return { pemFile, certPem, keyPem, serial };
}
