import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { Spec } from '../model/spec.js';
import { renderHaproxy } from '../render/haproxy.js';
import { renderKeepalived } from '../render/keepalived.js';
import { checkHaproxyConfig } from '../haproxy/check.js';
import { checkKeepalivedConfig } from '../keepalived/check.js';
import type { ConfigCheckResult } from '../haproxy/check.js';
import { OverlayError, SystemError, UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

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
 * with the real tools BEFORE anything in `outDir` changes: the files are rendered into a staging
 * directory, checked there (`haproxy -c`, keepalived's config test), then written atomically
 * (maps first, so the config never references a map that is not there yet).
 *
 * @throws UserError SPEC_NODE (unknown node), TOOL_MISSING (validate `require`)
 * @throws SystemError HAPROXY_CONFIG_INVALID, KEEPALIVED_CONFIG_INVALID, FILE_WRITE
 */
export async function renderNodeFiles(
  spec: Spec,
  specHash: string,
  options: { node: string; outDir: string; validate: ValidateMode; signal?: AbortSignal },
): Promise<RenderNodeResult> {
  const outDir = resolve(options.outDir);
  const signal = options.signal;
  const node = options.node;
  if (!spec.cluster.nodes.some((n) => n.name === node)) {
    throw new UserError('SPEC_NODE', `node "${node}" is not in the spec; nodes: ${spec.cluster.nodes.map((n) => n.name).join(', ')}. Pass one of them with --node.`);
  }
  await mkdir(join(outDir, 'maps'), { recursive: true });
  const staging = await mkdtemp(join(outDir, '.staging-'));
  try {
    const staged = renderHaproxy(spec, { node, specHash, mapDir: join(staging, 'maps') });
    const keepalived = renderKeepalived(spec, { node, specHash });
    await mkdir(join(staging, 'maps'));
    for (const map of staged.maps) await writeFile(join(staging, 'maps', map.name), map.content);
    await writeFile(join(staging, 'haproxy.cfg'), staged.config);
    await writeFile(join(staging, 'keepalived.conf'), keepalived);

    const haproxyCheck = await runCheck('haproxy', () => checkHaproxyConfig(join(staging, 'haproxy.cfg'), signal ? { signal } : {}), options.validate);
    const keepalivedCheck = await runCheck('keepalived', () => checkKeepalivedConfig(join(staging, 'keepalived.conf'), signal ? { signal } : {}), options.validate);

    const final = renderHaproxy(spec, { node, specHash, mapDir: join(outDir, 'maps') });
    const files: string[] = [];
    const wanted = new Set(final.maps.map((m) => m.name));
    for (const map of final.maps) {
      const path = join(outDir, 'maps', map.name);
      await writeFileAtomic(path, map.content, signal ? { signal } : {});
      files.push(path);
    }
    for (const [name, content] of [['haproxy.cfg', final.config], ['keepalived.conf', keepalived]] as const) {
      const path = join(outDir, name);
      await writeFileAtomic(path, content, signal ? { signal } : {});
      files.push(path);
    }
    // Map files of an earlier render that the new config no longer references.
    for (const entry of await readdir(join(outDir, 'maps'))) {
      if (entry.endsWith('.map') && !wanted.has(entry)) await rm(join(outDir, 'maps', entry), { force: true });
    }
    return { outDir, files, checks: { haproxy: haproxyCheck, keepalived: keepalivedCheck } };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
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
  const code = tool === 'haproxy' ? 'HAPROXY_CONFIG_INVALID' : 'KEEPALIVED_CONFIG_INVALID';
  throw new SystemError(code, `${tool} rejected the generated configuration (nothing was written):\n${result.output}`, { details: { output: result.output } });
}

function onlyMissingInterface(output: string): boolean {
  const lines = output.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.length > 0 && lines.every((l) => /Unknown interface|interface .* doesn't exist|VRRP_Instance .* ignoring/i.test(l));
}

/** Resolves `--out` relative to the working directory; rejects an empty value. */
export function resolveOutDir(dir: string): string {
  if (dir.trim() === '') throw new UserError('CLI_USAGE', '--out needs a directory, for example --out /etc/overlay-lb');
  return isAbsolute(dir) ? dir : resolve(dir);
}
