/**
 * `overlay-lb up` as a library operation (the CLI and the tests call it): load and validate the
 * spec, read the package, open a provisioning session with the operator's credentials, build the
 * resources from the kind registry, plan, and apply when asked.
 */
import { readFile } from 'node:fs/promises';
import type { Spec } from '../model/spec.js';
import { loadSpecFile } from '../ops/load-spec.js';
import { requireRegularFile } from '../ops/paths.js';
import { PENDING_KINDS, provisionResources } from '../cloud/aws/provision/kinds.js';
import { ProvisionSession, type ProvisionSessionOptions } from '../cloud/aws/provision/session.js';
import type { CloudCallEvent } from '../cloud/guarded-call.js';
import { UserError } from '../util/errors.js';
import { nodeSubnets } from './subnets.js';
import { applyProvision, planProvision, type ApplyResult, type PlanStep, type ProvisionPlan } from './engine.js';

export interface UpOptions {
  readonly specFile: string;
  /** The Debian package the nodes install (scripts/build-deb.sh). */
  readonly packageFile: string;
  /** `plan`: observe and print only; `apply`: also create and change. */
  readonly mode: 'plan' | 'apply';
  /** EC2, IAM, S3 and STS endpoint (the lab's API: `lab env`). @default AWS's */
  readonly endpoint?: string;
  /** @default the SDK's default credential chain */
  readonly credentials?: ProvisionSessionOptions['credentials'];
  readonly signal: AbortSignal;
  /** Called with the plan before anything is applied (a person sees the plan first). */
  readonly onPlan?: (plan: ProvisionPlan, context: { readonly cluster: string; readonly account: string; readonly region: string }) => void;
  readonly onStep?: (step: PlanStep) => void;
  readonly onEvent?: (event: CloudCallEvent) => void;
  /** The session's call pace (the lab's tests give CALL_PACE_LAB). @default CALL_PACE_AWS */
  readonly pace?: ProvisionSessionOptions['pace'];
}

export interface UpResult {
  readonly cluster: string;
  readonly account: string;
  readonly region: string;
  readonly plan: ProvisionPlan;
  /** Null for `--plan`, and when the plan has conflicts (then nothing is written). */
  readonly applied: ApplyResult | null;
}

/** The spec's provisioning prerequisites, as a user error naming the fix; returns the region. */
export function requireProvisionable(spec: Spec, file: string): string {
  if (spec.provision === undefined) throw new UserError('SPEC_REQUIRED', `${file} has no provision section: add one with imageId, clients and bucket (docs/spec.md, "provision")`);
  const region = spec.cluster.cloud.region;
  // validate guarantees both with provision; kept for the type.
  if (region === undefined || spec.cluster.cloud.vpcId === undefined) throw new UserError('SPEC_REQUIRED', `${file}: provision needs cluster.cloud.region and vpcId`);
  return region;
}

async function readPackage(path: string): Promise<Buffer> {
  const fix = 'give the .deb that scripts/build-deb.sh wrote (its path is the last line it prints)';
  await requireRegularFile(path, { what: '--package', fix });
  try {
    return await readFile(path);
  } catch (err) {
    throw new UserError('FILE_READ', `cannot read --package ${path}: ${(err as Error).message}; ${fix}`, { cause: err });
  }
}

/** Plans (and with mode `apply` applies) the deployment of a spec. */
export async function up(options: UpOptions): Promise<UpResult> {
  const { signal } = options;
  const loaded = await loadSpecFile(options.specFile, { signal });
  const region = requireProvisionable(loaded.spec, options.specFile);
  const packageBytes = await readPackage(options.packageFile);
  const session = new ProvisionSession({ region, endpoint: options.endpoint, credentials: options.credentials, onEvent: options.onEvent, pace: options.pace });
  try {
    const account = await session.account({ signal });
    const resources = await provisionResources({ spec: loaded.spec, specText: Buffer.from(loaded.text, 'utf8'), packageBytes, session, account,
      placeNodes: (subnets) => nodeSubnets(loaded.spec, subnets),
    }, { signal });
    const plan = await planProvision(resources, PENDING_KINDS, { signal });
    options.onPlan?.(plan, { cluster: loaded.spec.cluster.name, account, region });
    const conflicts = plan.steps.some((s) => s.action === 'conflict');
    const applied = options.mode === 'apply' && !conflicts ? await applyProvision(plan, resources, { signal, ...(options.onStep === undefined ? {} : { onStep: options.onStep }) }) : null;
    return { cluster: loaded.spec.cluster.name, account, region, plan, applied };
  } finally {
    session.destroy();
  }
}
