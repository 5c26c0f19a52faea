/**
 * The spec of an OverlayLb construct, read and validated at synth with the main package's own
 * validator (`parseSpec`, what `overlay-lb validate` runs), then checked for what the construct
 * needs: a `provision` section, a region, a VPC and route failover.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Spec } from '../../src/model/spec.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { SpecInvalidError } from '../../src/util/errors.js';
import { propsError } from './props-error.js';

/** The spec: a file (as `overlay-lb up SPEC` takes it) or its text. */
export type OverlayLbSpec =
  /** A path, relative to the directory `cdk synth` runs in (where cdk.json is). */
  | { readonly file: string }
  /** The spec's YAML text (for a spec generated in code). */
  | { readonly text: string };

/** A validated spec, with the bytes the nodes will read (uploaded as they are, like `up` does). */
export interface LoadedSpec {
  readonly spec: Spec;
  readonly text: string;
  /** The file as given, or `<spec text>`. */
  readonly name: string;
  /** The file to upload as an asset, when the spec came from one. */
  readonly file: string | undefined;
  /** The spec's region and VPC (required for provisioning). */
  readonly region: string;
  readonly vpcId: string;
}

function readSpecFile(path: string, where: string): string {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw propsError(where, 'spec.file', path, 'is not a regular file', 'give the path of the spec file (for example examples/provision.yaml)');
    size = stat.size;
  } catch (err) {
    if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('E')) {
      throw propsError(where, 'spec.file', path, `cannot be read (${err.code})`, `give the path of the spec file, relative to the directory cdk synth runs in (${process.cwd()})`);
    }
    throw err;
  }
  if (size > 16 * 1024 * 1024) throw propsError(where, 'spec.file', path, 'is larger than 16 MiB', 'give the spec file, not another file');
  return readFileSync(path, 'utf8');
}

/**
 * Reads and validates the spec of construct `where` (its path, for messages).
 * @throws UserError CONSTRUCT_PROPS naming the prop, the bad value and the fix; for an invalid
 *   spec, every diagnostic at file:line:col as `overlay-lb validate` prints them.
 */
export function loadSpec(source: OverlayLbSpec, where: string): LoadedSpec {
  const file = 'file' in source ? source.file : undefined;
  const text = 'file' in source ? readSpecFile(source.file, where) : source.text;
  if (typeof text !== 'string') throw propsError(where, 'spec', JSON.stringify(source), 'is neither { file } nor { text }', 'give { file: "path/to/spec.yaml" } or { text: yamlText }');
  const name = file ?? '<spec text>';
  const parsed = parseSpec(text, { file: name });
  if (!parsed.ok) {
    const invalid = new SpecInvalidError(parsed.diagnostics);
    throw propsError(where, 'spec', name, invalid.message.replace(/^spec /, ''), 'fix the spec (overlay-lb validate prints the same diagnostics; docs/spec.md)', invalid);
  }
  const { spec } = parsed;
  const { cloud } = spec.cluster;
  const need = (what: string, fix: string): never => {
    throw propsError(where, 'spec', name, what, fix);
  };
  if (spec.provision === undefined) need('has no provision section', 'add one with imageId, clients and bucket (docs/spec.md, "provision"); the construct provisions what overlay-lb up would');
  if (cloud.provider === 'none') need('has cluster.cloud.provider: none', 'set cluster.cloud.provider: aws (the construct declares AWS resources)');
  if (cloud.failover !== 'route') need(`has cluster.cloud.failover: ${cloud.failover}`, 'the construct declares the VIP routes of failover mode route; use failover: route, or overlay-lb up for an Elastic IP');
  if (cloud.region === undefined) need('has no cluster.cloud.region', 'set cluster.cloud.region to the stack\'s region');
  if (cloud.vpcId === undefined) need('has no cluster.cloud.vpcId', 'set cluster.cloud.vpcId to the id of the vpc prop');
  return { spec, text, name, file, region: cloud.region ?? '', vpcId: cloud.vpcId ?? '' };
}
