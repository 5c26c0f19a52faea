import { access, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Spec, Tls } from '../model/spec.js';
import { findNode } from '../speclang/nodes.js';
import { renderHaproxy } from '../render/haproxy.js';
import { renderKeepalived } from '../render/keepalived.js';
import { checkHaproxyConfig } from '../haproxy/check.js';
import { haproxyPaths, stageCheckInstall } from '../haproxy/config-writer.js';
import { checkKeepalivedConfig } from '../keepalived/check.js';
import type { ConfigCheckResult } from '../haproxy/check.js';
import { OverlayError, SystemError, UserError } from '../util/errors.js';
import { describeErrno, ensureWritableDirectory } from './paths.js';

/** `auto`: check with each tool that is installed; `require`: a missing tool is an error; `skip`: no check. */
export type ValidateMode = 'auto' | 'require' | 'skip';

export type CheckOutcome =
  | { readonly status: 'passed'; readonly output: string }
  | { readonly status: 'skipped'; readonly reason: string }
  | { readonly status: 'warning'; readonly output: string; readonly reason: string };

export interface RenderNodeResult {
  readonly outDir: string;
  /** Absolute paths written, config files last. */
  readonly files: readonly string[];
  readonly checks: { readonly haproxy: CheckOutcome; readonly keepalived: CheckOutcome };
}

/**
 * Renders one node's haproxy.cfg, map files and keepalived.conf into `outDir` and validates them
 * with the real tools BEFORE anything in `outDir` changes, through the agent's one "stage, check,
 * install" routine (`stageCheckInstall`, src/haproxy/config-writer.ts): the files are staged,
 * checked there (`haproxy -c`, keepalived's config test), then written atomically (maps first,
 * so the config never references a map that is not there yet).
 *
 * A keepalived config test that fails only because the VRRP interface does not exist on this
 * machine is a warning: rendering happens on a workstation, the interface exists on the node.
 *
 * @throws UserError SPEC_NODE (unknown node), TOOL_MISSING (validate `require`), PATH_INVALID
 *   (`outDir` is not a writable directory), BODY_FILE (a fixed response's body file is missing,
 *   unreadable or too large), TLS_CERTIFICATE (a certificate file is missing,
 *   unreadable or refused by HAProxy), LOG_FORMAT_INVALID (HAProxy refused the custom log format)
 * @throws SystemError HAPROXY_CONFIG_INVALID, KEEPALIVED_CONFIG_INVALID (a generated file that the
 *   tool refused for another reason: a bug)
 */
export async function renderNodeFiles(
  spec: Spec,
  specHash: string,
  options: { node: string; outDir: string; validate: ValidateMode; signal?: AbortSignal },
): Promise<RenderNodeResult> {
  const outDir = resolve(options.outDir);
  const signal = options.signal;
  const node = options.node;
  findNode(spec.cluster, node);
  if (options.validate !== 'skip') await checkCertificates(spec, signal);
  if (options.validate !== 'skip') await checkBodyFiles(spec, signal);
  await ensureWritableDirectory(join(outDir, 'maps'), { what: 'output directory', missing: 'create', ...(signal ? { signal } : {}) });
  const rendered = renderHaproxy(spec, { node, specHash, mapDir: haproxyPaths(outDir).mapDir });
  const keepalived = renderKeepalived(spec, { node, specHash });
  const { check, installed } = await writing(outDir, () =>
    stageCheckInstall({ dir: outDir, config: rendered.config, maps: rendered.maps }, {
      ...(signal ? { signal } : { signal: new AbortController().signal }),
      extra: [{ name: 'keepalived.conf', content: keepalived }],
      check: async (staged) => {
        const haproxyCheck = await runCheck('haproxy', () => checkHaproxyConfig(staged.config, signal ? { signal } : {}), options.validate);
        const keepalivedCheck = await runCheck('keepalived', () => checkKeepalivedConfig(join(staged.dir, 'keepalived.conf'), signal ? { signal } : {}), options.validate);
        // The tools' messages name the staging directory, which is gone when the caller reads them.
        const here = (c: CheckOutcome): CheckOutcome => (c.status === 'skipped' ? c : { ...c, output: c.output.replaceAll(staged.dir, outDir) });
        return { haproxy: here(haproxyCheck), keepalived: here(keepalivedCheck) };
      },
    }),
  );
  return { outDir, files: installed, checks: check };
}

async function runCheck(tool: 'haproxy' | 'keepalived', check: () => Promise<ConfigCheckResult>, mode: ValidateMode): Promise<CheckOutcome> {
  if (mode === 'skip') return { status: 'skipped', reason: 'validation turned off (--no-validate)' };
  let result: ConfigCheckResult;
  try {
    result = await check();
  } catch (err) {
    if (err instanceof OverlayError && err.code === 'TOOL_MISSING' && mode === 'auto') {
      return { status: 'skipped', reason: `${tool} is not installed here; install it (scripts/install-deps.sh) to validate` };
    }
    throw err;
  }
  if (result.ok) return { status: 'passed', output: result.output };
  if (tool === 'keepalived' && onlyMissingInterface(result.output)) {
    // keepalived's config test also checks that the VRRP interface exists on THIS machine; when
    // rendering on a workstation for a node, that is expected and not a defect of the file.
    return { status: 'warning', output: result.output, reason: 'the VRRP interface does not exist on this machine; the rest of the file passed keepalived\'s config test' };
  }
  if (tool === 'haproxy') {
    const refused = userInputRefusal(result.output);
    if (refused !== null) throw refused;
  }
  const code = tool === 'haproxy' ? 'HAPROXY_CONFIG_INVALID' : 'KEEPALIVED_CONFIG_INVALID';
  throw new SystemError(code, `${tool} rejected the generated configuration (nothing was written):\n${result.output}`, { details: { output: result.output } });
}

function onlyMissingInterface(output: string): boolean {
  const lines = output.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  // keepalived 2.2.7 prints, for an interface missing here:
  //   (…/keepalived.conf: Line 57) WARNING - interface ens99 for vrrp_instance OLB_DEMO doesn't exist
  //   Non-existent interface specified in configuration
  return lines.length > 0 && lines.every((l) => /Unknown interface|interface .* doesn't exist|Non-existent interface specified in configuration|VRRP_Instance .* ignoring/i.test(l));
}

/**
 * System-call failures while writing into the output directory are the user's to fix (a path, a
 * disk). Only raw system errors and failed writes (FILE_WRITE): a check's own errors (a missing
 * tool, a refused config) pass through as they are.
 */
async function writing<T>(outDir: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof OverlayError && err.code !== 'FILE_WRITE') throw err;
    const errno = err instanceof OverlayError ? err.cause : err;
    const code = (errno as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code !== 'string' || !USER_ERRNO.has(code)) throw err;
    throw new UserError('PATH_INVALID', `cannot write into the output directory ${outDir}: ${describeErrno(errno)}; give a directory on a normal file system that you can write to`, { cause: err, details: { path: outDir } });
  }
}

/**
 * Most bytes of a fixed response's bodyFile: HAProxy 2.6 refuses a file larger than its buffer
 * (tune.bufsize, 16384) and needs room for the status line and headers beside it.
 */
export const MAX_BODY_FILE_BYTES = 15_360;

/**
 * The body files of fixed responses must exist here for `haproxy -c` (it reads them) and fit in
 * HAProxy's buffer; each problem is the user's, named with its place in the spec.
 */
async function checkBodyFiles(spec: Spec, signal: AbortSignal | undefined): Promise<void> {
  for (const [fi, f] of spec.frontends.entries()) {
    for (const [ri, r] of f.routes.entries()) {
      if (r.action.kind !== 'respond' || r.action.respond.body?.kind !== 'file') continue;
      signal?.throwIfAborted();
      const path = r.action.respond.body.path;
      const where = `frontends[${fi}] (${f.name}).routes[${ri}] (${r.name}).respond.bodyFile`;
      let size: number;
      try {
        const st = await stat(path);
        if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENXIO' });
        await access(path, constants.R_OK);
        size = st.size;
      } catch (err) {
        throw new UserError('BODY_FILE', `${where}: cannot read ${path}: ${describeErrno(err)}; put the body there, or render with --no-validate when it exists only on the node`, { cause: err, details: { path } });
      }
      if (size > MAX_BODY_FILE_BYTES) {
        throw new UserError('BODY_FILE', `${where}: ${path} is ${size} bytes; a fixed response's body file may hold at most ${MAX_BODY_FILE_BYTES} (HAProxy answers from one 16 kB buffer): shorten it or serve it from a backend`, { details: { path, size } });
      }
    }
  }
}

const USER_ERRNO = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EISDIR', 'ENOENT', 'ENAMETOOLONG', 'ELOOP', 'EEXIST']);

/**
 * The certificate files of every TLS bind must exist here for `haproxy -c` (it loads them). A
 * missing one is the user's to fix, named with its place in the spec.
 */
async function checkCertificates(spec: Spec, signal: AbortSignal | undefined): Promise<void> {
  for (const [fi, f] of spec.frontends.entries()) {
    for (const [bi, b] of f.binds.entries()) {
      for (const [where, path] of tlsFiles(b.tls, `frontends[${fi}] (${f.name}).binds[${bi}].tls`)) {
        signal?.throwIfAborted();
        try {
          const st = await stat(path);
          if (!st.isFile() && !st.isDirectory()) throw Object.assign(new Error('not a file'), { code: 'ENXIO' });
          await access(path, constants.R_OK);
        } catch (err) {
          throw new UserError('TLS_CERTIFICATE', `${where}: cannot read certificate ${path}: ${describeErrno(err)}; put the PEM file there, or render with --no-validate when it exists only on the node`, { cause: err, details: { path } });
        }
      }
    }
  }
}

/** Every file a TLS bind makes HAProxy load, with its place in the spec. */
function tlsFiles(tls: Tls | undefined, at: string): [string, string][] {
  if (tls === undefined) return [];
  return [
    ...tls.certificates.map((p, i): [string, string] => [`${at}.certificates[${i}]`, p]),
    ...(tls.sni === undefined ? [] : [[`${at}.defaultCertificate`, tls.sni.defaultCertificate] as [string, string], ...tls.sni.entries.map((e, i): [string, string] => [`${at}.sni[${i}].certificate`, e.certificate])]),
    ...(tls.clientCertificate === undefined ? [] : [[`${at}.clientCertificate.ca`, tls.clientCertificate.ca] as [string, string]]),
  ];
}

/**
 * haproxy -c refusing a value the spec hands it for HAProxy to interpret (a certificate file's
 * content, a custom log format) is the user's to fix, not a bug: one line, with the value's place.
 * Returns null for any other refusal.
 */
function userInputRefusal(output: string): UserError | null {
  const alerts = output.split('\n')
    .filter((l) => l.includes('[ALERT]'))
    .map((l) => l.replace(/^\[ALERT\]\s*\(\d+\)\s*:\s*(config\s*:\s*)?/, '').trim())
    .filter((l) => !/^(Error\(s\) found in configuration file|Fatal errors found in configuration)/.test(l));
  const reason = (l: string): string => l.replace(/^[Pp]arsing \[[^\]]*\]\s*:\s*/, '');
  if (alerts.length === 0) return null;
  if (alerts.every((l) => /ca-file/.test(l))) {
    return new UserError('TLS_CERTIFICATE', `haproxy refused a client CA bundle (tls.clientCertificate.ca): ${alerts.map(reason).join('; ')}; give a PEM file with the CA certificates client certificates must chain to`, { details: { output } });
  }
  if (alerts.every((l) => /SSL certificate|load certificate|crt/.test(l))) {
    return new UserError('TLS_CERTIFICATE', `haproxy refused a certificate of a TLS bind: ${alerts.map(reason).join('; ')}; give a PEM file with the certificate chain and its private key`, { details: { output } });
  }
  if (alerts.every((l) => /log-format/.test(l))) {
    return new UserError('LOG_FORMAT_INVALID', `haproxy refused the custom access log format (frontends[].accessLog.custom): ${alerts.map(reason).join('; ')}; see https://docs.haproxy.org/2.6/configuration.html#8.2.4 for the variables and fetches allowed`, { details: { output } });
  }
  return null;
}

/** Resolves `--out` relative to the working directory; rejects an empty value. */
export function resolveOutDir(dir: string): string {
  if (dir.trim() === '') throw new UserError('CLI_USAGE', 'render: --out needs a directory, for example --out /etc/overlay-lb');
  return isAbsolute(dir) ? dir : resolve(dir);
}
