/**
 * The third-party notices of the single executable: every npm package esbuild bundled into it
 * (from esbuild's metafile) with its version, declared license and license texts, plus the Node.js
 * runtime it is injected into. Generated at package build time (scripts/build-deb.sh), so the
 * notices always list what the executable really contains.
 *
 * Script usage: node third-party-notices.js METAFILE NODE_MODULES_DIR NODE_RUNTIME_DIR > NOTICES
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One bundled package. */
export interface BundledPackage {
  readonly name: string;
  readonly version: string;
  readonly license: string;
  /** Texts of its LICENSE/LICENCE/COPYING/NOTICE files, by file name. */
  readonly texts: readonly { readonly file: string; readonly text: string }[];
}

/** The npm package names among esbuild metafile input paths (`node_modules/@scope/name/...`), sorted. */
export function bundledPackageNames(inputs: readonly string[]): string[] {
  const names = new Set<string>();
  for (const input of inputs) {
    const at = input.lastIndexOf('node_modules/');
    if (at < 0) continue;
    const parts = input.slice(at + 'node_modules/'.length).split('/');
    const name = parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : parts[0];
    if (name !== undefined && name !== '') names.add(name);
  }
  return [...names].sort();
}

const LICENSE_FILE = /^(licen[cs]e|copying|notice)(\..*)?$/i;

/**
 * Reads a package's name, version, license and license texts from its directory.
 * @throws Error naming the package when it declares no license and carries no license file:
 *   a package build must not ship a component whose terms are unknown.
 */
export function readBundledPackage(dir: string): BundledPackage {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string; license?: unknown };
  const texts = readdirSync(dir).filter((f) => LICENSE_FILE.test(f)).sort().map((file) => ({ file, text: readFileSync(join(dir, file), 'utf8').trim() }));
  const license = typeof pkg.license === 'string' ? pkg.license : '';
  if (license === '' && texts.length === 0) throw new Error(`bundled package ${pkg.name ?? dir} declares no license and has no license file; check its terms before shipping it`);
  return { name: pkg.name ?? dir, version: pkg.version ?? '?', license: license === '' ? 'see the text below' : license, texts };
}

/** The notices file: a summary table, then every package's license texts. */
export function formatNotices(packages: readonly BundledPackage[], runtime: BundledPackage): string {
  const all = [runtime, ...packages];
  const out = [
    'overlay-lb: third-party notices',
    '',
    'The overlay-lb executable (/usr/bin/overlay-lb) is the Node.js runtime with overlay-lb and the',
    'following npm packages bundled into it. Their licenses follow.',
    '',
    ...all.map((p) => `  ${`${p.name} ${p.version}`.padEnd(48)} ${p.license}`),
  ];
  for (const p of all) {
    out.push('', '='.repeat(78), `${p.name} ${p.version} (${p.license})`, '='.repeat(78));
    if (p.texts.length === 0) out.push('', `(no license file in the package; its package.json declares: ${p.license})`);
    for (const t of p.texts) out.push('', `--- ${t.file}`, '', t.text);
  }
  return `${out.join('\n')}\n`;
}

/** The script (usage above). */
export function main(argv: readonly string[]): void {
  const [metafile, nodeModules, runtimeDir] = argv;
  if (metafile === undefined || nodeModules === undefined || runtimeDir === undefined) throw new Error('usage: third-party-notices METAFILE NODE_MODULES_DIR NODE_RUNTIME_DIR');
  const meta = JSON.parse(readFileSync(metafile, 'utf8')) as { inputs: Record<string, unknown> };
  const packages = bundledPackageNames(Object.keys(meta.inputs)).map((name) => readBundledPackage(join(nodeModules, name)));
  const node = readBundledPackage(runtimeDir);
  const runtime = { ...node, name: `Node.js (the runtime, npm package ${node.name})` };
  process.stdout.write(formatNotices(packages, runtime));
}
