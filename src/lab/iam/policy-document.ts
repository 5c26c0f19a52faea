/**
 * IAM policy documents as CreateRole / PutRolePolicy receive them (JSON text): checked the way IAM
 * checks them (MalformedPolicyDocument with IAM's wording), then turned into the lab evaluator's
 * PolicyDocument (src/lab/ec2/policy.ts). A policy the evaluator cannot evaluate exactly (NotAction,
 * NotResource, a condition operator it does not implement) is refused rather than evaluated wrongly;
 * docs/lab-ec2-api.md lists this difference from AWS.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
 */
import type { ConditionOperator, PolicyDocument, PolicyStatement } from '../ec2/policy.js';
import { iamErrors } from './errors.js';

/** The condition operators the lab's evaluator implements. */
export const SUPPORTED_CONDITION_OPERATORS: readonly ConditionOperator[] = ['StringEquals', 'StringLike', 'StringNotEquals', 'ForAllValues:StringEquals'];

const VERSIONS = ['2012-10-17', '2008-10-17'];
const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Action', 'NotAction', 'Resource', 'NotResource', 'Principal', 'NotPrincipal', 'Condition']);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringOrList = (v: Json | undefined): v is string | string[] =>
  typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string'));

/**
 * Parse and check a policy. `identity` policies (PutRolePolicy) need Action and Resource and may not
 * name a Principal; `trust` policies (CreateRole's AssumeRolePolicyDocument) need a Principal.
 * @throws Ec2ApiError MalformedPolicyDocument naming what is wrong.
 */
export function parsePolicyDocument(text: string, options: { kind: 'identity' | 'trust' }): PolicyDocument {
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch {
    throw iamErrors.malformedPolicyDocument('Syntax errors in policy.');
  }
  if (!isObject(parsed)) throw iamErrors.malformedPolicyDocument('Syntax errors in policy.');
  for (const key of Object.keys(parsed)) {
    if (!['Version', 'Id', 'Statement'].includes(key)) throw iamErrors.malformedPolicyDocument(`Syntax errors in policy: unknown field ${key}.`);
  }
  const version = parsed['Version'];
  if (version !== undefined && (typeof version !== 'string' || !VERSIONS.includes(version))) {
    throw iamErrors.malformedPolicyDocument(`The policy failed legacy parsing: Version ${JSON.stringify(version)} is not one of ${VERSIONS.join(', ')}.`);
  }
  const raw = parsed['Statement'];
  if (raw === undefined) throw iamErrors.malformedPolicyDocument('Syntax errors in policy: missing required field Statement.');
  const statements = Array.isArray(raw) ? raw : [raw];
  return {
    ...(typeof version === 'string' ? { Version: version } : {}),
    Statement: statements.map((s) => parseStatement(s, options.kind)),
  };
}

function parseStatement(s: Json, kind: 'identity' | 'trust'): PolicyStatement {
  if (!isObject(s)) throw iamErrors.malformedPolicyDocument('Syntax errors in policy: a statement must be an object.');
  for (const key of Object.keys(s)) if (!STATEMENT_KEYS.has(key)) throw iamErrors.malformedPolicyDocument(`Syntax errors in policy: unknown field ${key}.`);
  const effect = s['Effect'];
  if (effect !== 'Allow' && effect !== 'Deny') throw iamErrors.malformedPolicyDocument(`Invalid effect: ${JSON.stringify(effect ?? null)} (allowed: "Allow", "Deny").`);
  if (s['Action'] === undefined && s['NotAction'] === undefined) throw iamErrors.malformedPolicyDocument('Policy statement must contain actions.');
  if (s['NotAction'] !== undefined || s['NotResource'] !== undefined || s['NotPrincipal'] !== undefined) {
    throw iamErrors.malformedPolicyDocument('The lab does not evaluate NotAction, NotResource or NotPrincipal; write the statement with Action, Resource and Principal.');
  }
  const action = s['Action'];
  if (!isStringOrList(action)) throw iamErrors.malformedPolicyDocument('Syntax errors in policy: Action must be a string or a list of strings.');
  for (const a of typeof action === 'string' ? [action] : action) {
    if (a !== '*' && !/^[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+$/.test(a)) throw iamErrors.malformedPolicyDocument(`Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.: ${a}`);
  }
  const sid = typeof s['Sid'] === 'string' ? { Sid: s['Sid'] } : {};
  if (kind === 'trust') {
    if (!isObject(s['Principal']) && s['Principal'] !== '*') throw iamErrors.malformedPolicyDocument('Missing required field Principal');
    // Trust policies are kept for GetRole; the lab does not evaluate AssumeRole, so their conditions are not checked.
    return { ...sid, Effect: effect, Action: action, Resource: '*' };
  }
  if (s['Principal'] !== undefined) throw iamErrors.malformedPolicyDocument('Policy document should not specify a principal.');
  const resource = s['Resource'];
  if (resource === undefined) throw iamErrors.malformedPolicyDocument('Policy statement must contain resources.');
  if (!isStringOrList(resource)) throw iamErrors.malformedPolicyDocument('Syntax errors in policy: Resource must be a string or a list of strings.');
  for (const r of typeof resource === 'string' ? [resource] : resource) {
    if (r !== '*' && !r.startsWith('arn:')) throw iamErrors.malformedPolicyDocument(`Resource ${r} must be in ARN format or "*".`);
  }
  const condition = s['Condition'];
  if (condition === undefined) return { ...sid, Effect: effect, Action: action, Resource: resource };
  if (!isObject(condition)) throw iamErrors.malformedPolicyDocument('Syntax errors in policy: Condition must be an object.');
  const out: Partial<Record<ConditionOperator, Record<string, string | string[]>>> = {};
  for (const [operator, entries] of Object.entries(condition)) {
    if (!(SUPPORTED_CONDITION_OPERATORS as readonly string[]).includes(operator)) {
      throw iamErrors.malformedPolicyDocument(`The lab's policy evaluator does not implement the condition operator ${operator} (it implements ${SUPPORTED_CONDITION_OPERATORS.join(', ')}).`);
    }
    if (!isObject(entries)) throw iamErrors.malformedPolicyDocument(`Syntax errors in policy: condition ${operator} must map keys to values.`);
    const keys: Record<string, string | string[]> = {};
    for (const [key, value] of Object.entries(entries)) {
      if (!isStringOrList(value)) throw iamErrors.malformedPolicyDocument(`Syntax errors in policy: the values of condition key ${key} must be strings.`);
      keys[key] = value;
    }
    out[operator as ConditionOperator] = keys;
  }
  return { ...sid, Effect: effect, Action: action, Resource: resource, Condition: out };
}
