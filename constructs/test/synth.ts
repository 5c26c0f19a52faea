// What the construct's tests share: the fixtures, the example stack synthesized from them, and the
// values a test resolves the template's tokens to (an account, the spec's region, ids).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack, aws_ec2 as ec2 } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EXAMPLE_VPC, exampleStack } from '../../examples/cdk/stack.js';
import { OverlayLb, type OverlayLbProps } from '../src/index.js';
import { resourcesOfType, type CfnTemplate, type CfnValues } from '../../test/helpers/cfn-resolve.js';

/** constructs/ in the checkout (the tests run from constructs/dist/constructs/test). */
export const CONSTRUCTS_DIR = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURE_SPEC = join(CONSTRUCTS_DIR, 'test/fixtures/spec.yaml');
export const FIXTURE_PACKAGE = join(CONSTRUCTS_DIR, 'test/fixtures/overlay-lb-stand-in.deb');
export const GOLDEN_TEMPLATE = join(CONSTRUCTS_DIR, 'test/golden/overlay-lb-example.template.json');
export const EXAMPLE_APP_DIR = join(CONSTRUCTS_DIR, '../examples/cdk');

export const TEST_ACCOUNT = '111122223333';
export const TEST_REGION = 'us-east-1';

/** A new App writing its assembly to a temporary directory. */
export function newApp(): App {
  return new App({ outdir: mkdtempSync(join(tmpdir(), 'olb-cdk-test-')) });
}

/** The example stack (examples/cdk/stack.ts) from the fixtures. */
export function synthExample(): { readonly stack: Stack; readonly template: Template; readonly json: CfnTemplate } {
  const stack = exampleStack(newApp(), 'OverlayLbExample', { specFile: FIXTURE_SPEC, packageFile: FIXTURE_PACKAGE, env: { region: TEST_REGION } });
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as CfnTemplate };
}

/** An OverlayLb in a fresh stack with the example's VPC and fixtures, `props` replacing any of them. */
export function synthWith(props: Partial<OverlayLbProps> = {}, options: { readonly region?: string } = {}): OverlayLb {
  const app = newApp();
  const stack = new Stack(app, 'Test', options.region === undefined ? {} : { env: { region: options.region } });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', EXAMPLE_VPC);
  return new OverlayLb(stack, 'Lb', { vpc, spec: { file: FIXTURE_SPEC }, packageFile: FIXTURE_PACKAGE, ...props });
}

/**
 * The values the template's tokens take for a deployment in the test account: the pseudo
 * parameters, and made-up ids for the group, the profile and the instances (by logical id).
 */
export function deployedValues(json: CfnTemplate, account = TEST_ACCOUNT, region = TEST_REGION): Record<string, string> {
  const values: Record<string, string> = { 'AWS::AccountId': account, 'AWS::Region': region, 'AWS::Partition': 'aws', 'AWS::URLSuffix': 'amazonaws.com' };
  for (const [id] of resourcesOfType(json, 'AWS::EC2::SecurityGroup')) values[`${id}.GroupId`] = 'sg-0123456789abcdef0';
  for (const [id] of resourcesOfType(json, 'AWS::IAM::InstanceProfile')) values[id] = 'overlay-lb-test-profile';
  resourcesOfType(json, 'AWS::EC2::Instance').forEach(([id], i) => {
    values[id] = `i-0${String(i + 1).repeat(16)}`;
  });
  return values satisfies CfnValues;
}
