// Resolves the CloudFormation intrinsics of a synthesized template (the OverlayLb construct's,
// constructs/) to concrete values, as CloudFormation would at deploy: `Ref` of a pseudo parameter
// or a resource, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub` (${Name} and ${Resource.Attr}), `Fn::Base64`.
// What a test compares with `overlay-lb up`'s documents, or sends to the lab's API. An intrinsic
// the map does not name is an error (never left as an object in a "resolved" value).

/** Values of `Ref` (pseudo parameters such as AWS::AccountId, logical ids) and `Fn::GetAtt` (`Logical.Attr`). */
export type CfnValues = Readonly<Record<string, string>>;

function lookup(values: CfnValues, name: string, at: string): string {
  const value = values[name];
  if (value === undefined) throw new Error(`cfn-resolve: no value for ${name} (in ${at}); known: ${Object.keys(values).join(', ')}`);
  return value;
}

/** `value` with every intrinsic replaced by its concrete value. */
export function resolveCfn(value: unknown, values: CfnValues): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveCfn(v, values));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [key, arg] = entries[0]!;
    if (key === 'Ref') return lookup(values, String(arg), 'Ref');
    if (key === 'Fn::GetAtt') {
      const [resource, attribute] = arg as [string, string];
      return lookup(values, `${resource}.${attribute}`, 'Fn::GetAtt');
    }
    if (key === 'Fn::Join') {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map((p) => resolveString(p, values)).join(separator);
    }
    if (key === 'Fn::Sub') {
      if (typeof arg !== 'string') throw new Error('cfn-resolve: Fn::Sub with a variable map is not used by the construct');
      return arg.replace(/\$\{([^}!]+)\}/g, (_, name: string) => lookup(values, name, `Fn::Sub ${arg}`));
    }
    if (key === 'Fn::Base64') return Buffer.from(resolveString(arg, values), 'utf8').toString('base64');
    if (key.startsWith('Fn::')) throw new Error(`cfn-resolve: ${key} is not resolved by this helper`);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveCfn(v, values)]));
}

/** A value that must resolve to a string. */
export function resolveString(value: unknown, values: CfnValues): string {
  const out = resolveCfn(value, values);
  if (typeof out !== 'string') throw new Error(`cfn-resolve: ${JSON.stringify(value)} does not resolve to a string`);
  return out;
}

/** A synthesized template's shape, as far as tests read it. */
export interface CfnTemplate {
  readonly Resources: Readonly<Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown>; readonly DependsOn?: readonly string[] }>>;
  readonly Outputs?: Readonly<Record<string, { readonly Value: unknown; readonly Description?: string }>>;
}

/** The logical ids and properties of a template's resources of `type`, in template order. */
export function resourcesOfType(template: CfnTemplate, type: string): [string, Record<string, unknown>][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type).map(([id, r]) => [id, r.Properties ?? {}]);
}
