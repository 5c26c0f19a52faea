/**
 * The esbuild step of the single executable (scripts/build-deb.sh): an entry point and everything
 * it imports as one CommonJS file, twice (src/cli/sea-agent-main.ts, the executable's main script,
 * and src/cli/sea-main.ts, the CLI, stored as an asset), bundled so that the agent's memory is
 * what it uses, not the whole of its dependencies (issue 17 item 7, docs/BENCHMARKS.md "Agent
 * footprint").
 *
 * The agent itself no longer loads the AWS SDK (its own EC2 and S3 clients: src/cloud/aws/ec2-query.ts,
 * s3-rest.ts); the CLI's provisioning does, in the same executable. These choices matter for the
 * resident memory of the agent (the bundle's source is in every process's heap) and of the CLI:
 * - npm packages are bundled from their ES module builds (`mainFields: module, main`), which
 *   esbuild can tree-shake; the CommonJS build of @aws-sdk/client-ec2 alone is one 2 MB file with
 *   every EC2 operation, and loading it costs about 80 MB of RSS.
 * - {@link inlineSchemaKeys}: the SDK's generated schema files use computed object keys naming
 *   module constants (`{ [_xN]: _TSa }`). esbuild cannot prove such a key free of side effects
 *   (a computed key may call toString), so it keeps every one of the ~3,400 EC2 shapes. The
 *   constants are string literals, so replacing the key by the literal is the same program, and
 *   esbuild then drops every shape the agent's commands do not reach.
 * - No dynamic `import()` is left (`supported: { 'dynamic-import': false }`: esbuild writes
 *   `require` instead). The SDK imports `node:http` on demand for a plain-HTTP endpoint (the lab's);
 *   in a CommonJS main an `import()` of a builtin goes through the ES module loader, whose namespace
 *   of `node:http` reads its lazy `WebSocket` export, which loads undici: about 17 MiB of the
 *   agent's memory from its first cloud call on (docs/BENCHMARKS.md, "Agent footprint").
 * - Whitespace is minified (not names: a bug's stack trace still names its functions): the
 *   agent's script is a quarter smaller, 1.6 -> 1.2 MB, held once in the heap and once in the
 *   executable's resident pages.
 * - {@link asciiOnly}: V8 keeps the main script's source in the heap for as long as the process
 *   runs, one byte per character if it is all Latin-1, else two. esbuild escapes every non-ASCII
 *   character of the code (its default ASCII charset) but copies comments as they are, and two
 *   comments (an em dash, Catalan words in zod) made the whole 2.8 MB source cost 5.5 MB.
 *
 * Script usage: node sea-bundle.js ENTRY OUTFILE METAFILE BUILD_JSON
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import type { Plugin } from 'esbuild';

/** The SDK's generated schema modules (`dist-es/schemas/schemas_0.js` of each client). */
export const SCHEMA_FILE = /[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;

/**
 * Replaces each computed key `[_name]:` whose `_name` the file declares at top level as
 * `const _name = "literal";` by `["literal"]:`; every other text is left as it is.
 */
export function inlineSchemaKeys(source: string): string {
  const constants = new Map<string, string>();
  for (const m of source.matchAll(/^const (_\w+) = ("[^"\\\n]*");$/gm)) constants.set(m[1]!, m[2]!);
  return source.replace(/\[(_\w+)\]:/g, (all, name: string) => {
    const literal = constants.get(name);
    return literal === undefined ? all : `[${literal}]:`;
  });
}

/**
 * Escapes every non-ASCII UTF-16 unit as `\uXXXX`. Applied to esbuild's output, where such
 * characters are left only in comments (the code's are escaped already), it changes no behaviour.
 */
export function asciiOnly(source: string): string {
  return source.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The esbuild plugin applying {@link inlineSchemaKeys} to the SDK's schema modules. */
export const inlineSchemaKeysPlugin: Plugin = {
  name: 'overlay-lb-inline-schema-keys',
  setup(build) {
    build.onLoad({ filter: SCHEMA_FILE }, async (args) => ({ contents: inlineSchemaKeys(await readFile(args.path, 'utf8')), loader: 'js' }));
  },
};

/**
 * The names a module imports from `@aws-sdk/client-ec2` (`import { A, type B } from ...`: A),
 * from its source text. Type-only names are left out (esbuild erases them).
 */
export function ec2ImportNames(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/^import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-ec2';/gm)) {
    for (const part of m[1]!.split(',')) {
      const name = part.trim();
      if (name !== '' && !name.startsWith('type ')) names.add(name);
    }
  }
  return [...names].sort();
}

/** The module of `@aws-sdk/client-ec2`'s ES build that defines `name`, relative to the package. */
function ec2DeepPath(name: string, importer: string): string {
  if (name === 'EC2Client') return './dist-es/EC2Client.js';
  if (/^[A-Z][A-Za-z0-9]*Command$/.test(name)) return `./dist-es/commands/${name}.js`;
  throw new Error(`sea-bundle: ${importer} imports ${name} from @aws-sdk/client-ec2; only EC2Client and *Command are mapped to their own modules (import types with \`type\`, or extend ec2DeepPath)`);
}

/**
 * Every import of `@aws-sdk/client-ec2` in our code becomes imports of the modules that define
 * what it names (`dist-es/commands/ReplaceRouteCommand.js`, `dist-es/EC2Client.js`), not of the
 * package's index, which re-exports all ~750 commands. Nothing changes in the program, but the
 * bundle: a module the CLI imports on demand (up, down, doctor...) is wrapped by esbuild in a
 * lazy initializer, with everything it imports; a wrapped index initializes every command and
 * schema it re-exports, so one on-demand importer of the index brought all ~3,400 EC2 shapes
 * back into the agent's memory.
 */
export const ec2DeepImportsPlugin: Plugin = {
  name: 'overlay-lb-ec2-deep-imports',
  setup(build) {
    build.onResolve({ filter: /^@aws-sdk\/client-ec2$/ }, (args) => {
      if (args.importer.includes(`${sep}node_modules${sep}`)) return undefined;
      return { path: args.importer, namespace: 'olb-ec2-imports' };
    });
    build.onLoad({ filter: /.*/, namespace: 'olb-ec2-imports' }, async (args) => {
      const names = ec2ImportNames(await readFile(args.path, 'utf8'));
      const packageDir = dirname(createRequire(args.path).resolve('@aws-sdk/client-ec2/package.json'));
      return {
        contents: names.map((name) => `export { ${name} } from ${JSON.stringify(ec2DeepPath(name, args.path))};`).join('\n'),
        resolveDir: packageDir, loader: 'js',
      };
    });
  },
};

/**
 * Bundles `entry` into one CommonJS file for Node 24's single executable (which runs a CommonJS
 * main): `import.meta.url` becomes the file's URL, OVERLAY_LB_BUILD the build's version JSON.
 * Writes esbuild's metafile (the third-party notices are generated from it).
 */
export async function bundleSea(options: { readonly entry: string; readonly outfile: string; readonly metafile: string; readonly buildJson: string }): Promise<void> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [options.entry], outfile: options.outfile, bundle: true, platform: 'node', target: 'node24', format: 'cjs',
    mainFields: ['module', 'main'], plugins: [inlineSchemaKeysPlugin, ec2DeepImportsPlugin], metafile: true, legalComments: 'none', minifyWhitespace: true, logLevel: 'warning', supported: { 'dynamic-import': false },
    define: { OVERLAY_LB_BUILD: options.buildJson, 'import.meta.url': '__olbImportMetaUrl' },
    banner: { js: "const __olbImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  await writeFile(options.outfile, asciiOnly(await readFile(options.outfile, 'utf8')));
  await writeFile(options.metafile, JSON.stringify(result.metafile));
}

/** The script: bundleSea from the command line (see the file's header). */
export async function main(argv: readonly string[]): Promise<void> {
  const [entry, outfile, metafile, buildJson] = argv;
  if (entry === undefined || outfile === undefined || metafile === undefined || buildJson === undefined) {
    throw new Error('usage: sea-bundle ENTRY OUTFILE METAFILE BUILD_JSON');
  }
  await bundleSea({ entry, outfile, metafile, buildJson });
}
