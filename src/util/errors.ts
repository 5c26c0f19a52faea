/**
 * The one error base of overlay-lb and the registry of every error code.
 *
 * Every code thrown or reported anywhere is listed in `ERROR_CODES` and documented in
 * docs/errors.md (kept in sync by test/util/errors.test.ts). Foreign errors are wrapped once, at
 * the boundary, keeping `cause`.
 */

/** Whose fault an error is: the user's input, or the system (network, cloud API, a bug). */
export type Fault = 'user' | 'system';

export interface ErrorCodeInfo {
  readonly summary: string;
  readonly fault: Fault;
  readonly retryable: boolean;
}

const user = (summary: string): ErrorCodeInfo => ({ summary, fault: 'user', retryable: false });
const system = (summary: string, retryable = false): ErrorCodeInfo => ({ summary, fault: 'system', retryable });

/** Every error code. Add a code here and a section to docs/errors.md together. */
export const ERROR_CODES = {
  // Spec: each diagnostic of `validate` carries one of these.
  SPEC_YAML: user('The spec is not well-formed YAML.'),
  SPEC_TYPE: user('A value has the wrong type (for example a string where a number is expected).'),
  SPEC_REQUIRED: user('A required field is missing.'),
  SPEC_UNKNOWN_FIELD: user('A field that the spec does not define (often a typo).'),
  SPEC_ENUM: user('A value is not one of the allowed choices.'),
  SPEC_RANGE: user('A number is outside its allowed range.'),
  SPEC_FORMAT: user('A string does not have the required format (name, address, CIDR, duration, path...).'),
  SPEC_UNSAFE_VALUE: user('A string contains characters that cannot be placed safely in a generated file.'),
  SPEC_DUPLICATE: user('Two items share a name or an address that must be unique.'),
  SPEC_REFERENCE: user('A name refers to something the spec does not define.'),
  SPEC_VIP_IN_CIDR: user('The VIP lies inside a VPC or peer CIDR.'),
  SPEC_REGEX: user('A regular expression is invalid or uses a construct outside the supported subset.'),
  SPEC_SPLIT_WEIGHTS: user('The weights of a split do not add up to 100.'),
  SPEC_CONFLICT: user('Two settings contradict each other.'),
  SPEC_NODE: user('The node named on the command line is not in the spec.'),
  SPEC_COOKIE_CLASH: user('Two stickiness cookies the load balancer issues (stickyCookie of a split or a backend) share a name.'),
  // Files and tools.
  FILE_READ: user('A file could not be read.'),
  FILE_WRITE: system('A file could not be written.'),
  PATH_INVALID: user('A path given on the command line cannot be used: missing, a file where a directory is expected (or the reverse), not writable, or on a kernel file system (/proc, /sys, /dev).'),
  TLS_CERTIFICATE: user('A certificate file named in a TLS bind is missing, unreadable, or HAProxy cannot load it.'),
  BODY_FILE: user("A fixed response's bodyFile is missing, unreadable or larger than HAProxy's buffer allows."),
  LOG_FORMAT_INVALID: user('HAProxy refused a custom access log format (an unknown variable, fetch or converter).'),
  HAPROXY_CONFIG_INVALID: system('haproxy -c rejected a generated configuration.'),
  KEEPALIVED_CONFIG_INVALID: system('keepalived --config-test rejected a generated configuration.'),
  HAPROXY_RUNTIME: system('The HAProxy Runtime API or master CLI refused a command or could not be reached.', true),
  HAPROXY_RUNTIME_ARGUMENT: user('A value passed to the HAProxy Runtime API contains characters it would split on (whitespace, `;`, control characters).'),
  HAPROXY_RELOAD_FAILED: system('HAProxy did not load a new configuration on reload; the last known good files were restored and the old workers keep serving.'),
  HAPROXY_START_FAILED: system('HAProxy could not be started, attached to, or exited unexpectedly.'),
  TOOL_MISSING: user('A required program is not installed.'),
  CLI_USAGE: user('The command line is wrong: unknown command, option or missing argument.'),
  EXPLAIN_REQUEST: user('A request given to explain is malformed (header, source address).'),
  LAB_LISTEN: system('A lab server (EC2-compatible API or IMDS) could not listen on its address.'),
  INTERNAL: system('A bug in overlay-lb.'),
  // Cloud API (EC2 or the lab's EC2-compatible API), mapped once in src/cloud/aws/errors.ts.
  CLOUD_THROTTLED: system('The cloud API throttled the request (RequestLimitExceeded).', true),
  CLOUD_UNAVAILABLE: system('The cloud API failed or could not be reached (5xx, network error, timeout).', true),
  CLOUD_UNAUTHORIZED: user('The credentials\' IAM policy (a node\'s role, or whoever runs overlay-lb up) does not allow the action on this resource (UnauthorizedOperation, AccessDenied).'),
  CLOUD_AUTH_FAILURE: user('The cloud API rejected the credentials (AuthFailure, bad signature, expired token).'),
  CLOUD_NOT_FOUND: user('A route table, route, interface, instance or address does not exist.'),
  CLOUD_INVALID_REQUEST: user('The cloud API rejected a parameter (InvalidParameterValue and similar).'),
  CLOUD_CONFLICT: system('The resource is in a state that conflicts with the request (RouteAlreadyExists, Resource.AlreadyAssociated).'),
  PROVISION_CONFLICT: user('overlay-lb up found resources with the names it would use that this cluster does not own (no ownership tag); it changed nothing.'),
  DOWN_VIP_IN_USE: user('overlay-lb down refused: the VIP still carries traffic (a node\'s published status shows sessions), or a node it would remove has no fresh status while the VIP route points at it; nothing was removed.'),
  DOWN_UNSUPPORTED: system('overlay-lb down found a resource of a kind this version cannot remove (no remove()); it removed nothing.'),
  CONSTRUCT_PROPS: user('A prop of the OverlayLb AWS CDK construct (constructs/) is wrong or contradicts the spec; the synth stops.'),
  CLOUD_DRY_RUN_OK: user('A DryRun request would have succeeded (DryRunOperation).'),
  // The spec rolled out to every node (apply --cluster, rollback, agents following the release bucket).
  ROLLOUT_REFUSED: user('apply --cluster or rollback cannot gate the cluster (a node without a fresh published status, no master or two); nothing was changed.'),
  ROLLOUT_NODE_FAILED: user('A node did not pass its gate (the new spec version applied, healthy, no problems) within its deadline; the rollout stopped there and the nodes after it keep their version.'),
  ROLLOUT_NOTHING_TO_ROLL_BACK: user('rollback found no earlier spec version to return to (no apply --cluster yet, or no older version kept).'),
  SPEC_VERSION_INVALID: user('The desired-version pointer a node read from the release bucket, or the spec version it names, is not valid; the node keeps running its current spec.'),
  // The real-account smoke run (scripts/aws-smoke.sh, src/provision/smoke.ts).
  SMOKE_CLUSTER_EXISTS: user('The smoke run makes and removes its own cluster, but resources of the spec\'s cluster exist already; it made nothing.'),
  SMOKE_STEP_FAILED: system('A step of the smoke run did not reach its expected state before its deadline; what the run made was removed.'),
  // Service discovery (src/discovery).
  DISCOVERY_INVALID_DATA: user('A discovery source returned data that is not a valid server list (bad address, port, weight, duplicate, too many entries); the previous snapshot is kept.'),
  DISCOVERY_UNAVAILABLE: system('A discovery source could not be read (server down, timeout, file missing); the last good snapshot is kept.', true),
  // The lab (src/lab): namespaces, kernel data path, state file.
  LAB_PLAN_INVALID: user('The spec cannot be laid out as a lab (VPC too small, an address that is a subnet\'s network, gateway or broadcast, too many zones).'),
  LAB_COMMAND_FAILED: system('A kernel command of the lab (ip, iptables, sysctl) or a lab process failed.'),
  LAB_STATE_INVALID: user('The lab state file is not readable as a lab state file.'),
  LAB_UNKNOWN_NAME: user('A lab instance, network interface, route table or AZ name is not in the lab.'),
  LAB_NOT_ROOT: user('The lab needs root (it creates network namespaces).'),
  LAB_EXISTS: user('A lab with this prefix is already up.'),
  LAB_NOT_FOUND: user('No lab with this prefix is up (no state file).'),
  LAB_FAULT_INVALID: user('A lab fault has invalid arguments (unknown kind, out-of-range value).'),
  LAB_CONTROLLER: system('The lab controller (the process serving the lab\'s EC2 API and IMDS) is not running or did not answer.', true),
  AGENT_UNREACHABLE: system('A node agent did not answer on its control socket (not running, wrong run directory, or not this machine).', true),
  SWITCHOVER_HANDOFF: system('The connection handoff of a planned switchover or a failback (iptables, ip rule, VXLAN link) could not be set up or removed.'),
  SWITCHOVER_FAILED: system('A planned switchover could not complete a step (claim, VRRP, drain); the steps done so far were rolled back where safe.'),
  SWITCHOVER_INVALID: user('A switchover was asked for that cannot be done (unknown node, no master, target unhealthy).'),
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface OverlayErrorOptions {
  readonly cause?: unknown;
  /** Overrides the registry's default. */
  readonly retryable?: boolean;
  /** Structured details for logs and --json output. Never secrets. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Base of every error overlay-lb throws. */
export class OverlayError extends Error {
  readonly code: ErrorCode;
  readonly fault: Fault;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: OverlayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.fault = ERROR_CODES[code].fault;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details ?? {};
  }
}

/** Bad input from the user (spec, CLI arguments, files). */
export class UserError extends OverlayError {}

/** A generated config rejected by its own tool, or another failure of a system part. */
export class SystemError extends OverlayError {}

/** One finding about a spec, located in its file. */
export interface Diagnostic {
  readonly code: ErrorCode;
  readonly message: string;
  /** Path of the offending value in the spec, for example ["frontends", 0, "routes", 2, "backend"]. */
  readonly path: readonly (string | number)[];
  readonly file: string;
  /** 1-based; 0 when unknown. */
  readonly line: number;
  /** 1-based; 0 when unknown. */
  readonly col: number;
}

/** `file:line:col: message`, the format editors and CI annotate. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

/** Thrown by operations that need a valid spec; carries every diagnostic. */
export class SpecInvalidError extends UserError {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    super(diagnostics[0]?.code ?? 'SPEC_TYPE', `spec is invalid (${diagnostics.length} error${diagnostics.length === 1 ? '' : 's'}):\n${diagnostics.map(formatDiagnostic).join('\n')}`);
    this.diagnostics = diagnostics;
  }
}
