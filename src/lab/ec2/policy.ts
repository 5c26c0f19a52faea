/**
 * An IAM-like policy evaluator for the lab's EC2 API (pure), so least privilege is testable:
 * Allow and Deny statements, Action and Resource wildcards, and the StringEquals / StringLike /
 * StringNotEquals condition operators (enough for `ec2:Vpc`, the key real least-privilege policies
 * use to scope ReplaceRoute to one VPC's route tables), plus `ForAllValues:StringEquals` for the
 * multi-valued `aws:TagKeys` (which tag keys a CreateTags may set).
 *
 * Semantics follow https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 * for a single identity policy: an explicit Deny wins, otherwise some Allow must match, otherwise denied.
 */

type OneOrMany = string | readonly string[];

export type ConditionOperator = 'StringEquals' | 'StringLike' | 'StringNotEquals' | 'ForAllValues:StringEquals';

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  /** `ec2:ReplaceRoute`, `ec2:Describe*`, `*`. Matched case-insensitively. */
  readonly Action: OneOrMany;
  /** ARNs with `*` and `?` wildcards, or `*`. */
  readonly Resource: OneOrMany;
  /** `{ StringEquals: { 'ec2:Vpc': 'arn:aws:ec2:REGION:ACCOUNT:vpc/vpc-...' } }`. Keys are case-insensitive. */
  readonly Condition?: Readonly<Partial<Record<ConditionOperator, Readonly<Record<string, OneOrMany>>>>>;
}

export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: readonly PolicyStatement[];
}

/** One resource an action touches, with the condition keys the request carries for it. */
export interface AuthorizedResource {
  /** The resource ARN, or `*` for actions that do not support resource-level permissions (Describe*). */
  readonly arn: string;
  /** Condition keys, lower-case (`ec2:vpc`); multi-valued keys (`aws:tagkeys`) as lists. */
  readonly conditions: Readonly<Record<string, string | readonly string[]>>;
}

/** An API credential of the lab: an access key, its secret and the principal's policy. */
export interface LabCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Required (X-Amz-Security-Token) when set: role credentials carry one. */
  readonly sessionToken?: string;
  /** A name for logs: `admin`, `role/lb-node`. */
  readonly principal: string;
  readonly policy: PolicyDocument;
}

/** A policy allowing everything, for the lab's administrator credential. */
export const ALLOW_ALL_POLICY: PolicyDocument = { Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

const list = (value: OneOrMany): readonly string[] => (typeof value === 'string' ? [value] : value);

/** Whether a wildcard pattern (`*` any run, `?` one character) matches the whole text. */
export function wildcardMatch(pattern: string, text: string, options: { ignoreCase: boolean }): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, options.ignoreCase ? 'is' : 's').test(text);
}

function conditionsHold(statement: PolicyStatement, resource: AuthorizedResource): boolean {
  for (const [operator, entries] of Object.entries(statement.Condition ?? {}) as [ConditionOperator, Record<string, OneOrMany>][]) {
    for (const [key, expected] of Object.entries(entries)) {
      const actual = resource.conditions[key.toLowerCase()];
      const values = list(expected);
      if (operator === 'ForAllValues:StringEquals') {
        // IAM: true when every value of the request is listed, and also when the request carries
        // no value at all (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
        if (actual !== undefined && !list(actual).every((a) => values.includes(a))) return false;
        continue;
      }
      // The single-valued operators never match a multi-valued key here (IAM wants a set operator).
      if (typeof actual === 'object') return false;
      if (operator === 'StringNotEquals') {
        if (actual !== undefined && values.includes(actual)) return false;
        continue;
      }
      // IAM: a condition on a key the request does not carry does not match.
      if (actual === undefined) return false;
      const ok = operator === 'StringEquals'
        ? values.includes(actual)
        : values.some((v) => wildcardMatch(v, actual, { ignoreCase: false }));
      if (!ok) return false;
    }
  }
  return true;
}

function statementMatches(statement: PolicyStatement, action: string, resource: AuthorizedResource): boolean {
  return list(statement.Action).some((a) => wildcardMatch(a, action, { ignoreCase: true }))
    && list(statement.Resource).some((r) => wildcardMatch(r, resource.arn, { ignoreCase: false }))
    && conditionsHold(statement, resource);
}

/**
 * Whether the policy allows `action` (`ec2:ReplaceRoute`) on every one of `resources`.
 * An action with no resources is checked against `*`.
 */
export function isAllowed(policy: PolicyDocument, action: string, resources: readonly AuthorizedResource[]): boolean {
  const targets = resources.length > 0 ? resources : [{ arn: '*', conditions: {} }];
  return targets.every((resource) => {
    const matching = policy.Statement.filter((s) => statementMatches(s, action, resource));
    return !matching.some((s) => s.Effect === 'Deny') && matching.some((s) => s.Effect === 'Allow');
  });
}
