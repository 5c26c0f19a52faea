/**
 * The user-data of an LB node (run once as root at first boot, by cloud-init on AWS and by the
 * lab as cloud-init would): install the package and the spec from S3 with the instance role's
 * credentials (the role may read exactly these two objects: iam-policy.ts `ReadRelease`), name
 * the node, validate the spec and start the agent. Nothing is done on a node by hand.
 *
 * No spec value is ever interpolated into shell code: each is assigned once, single-quoted, to a
 * variable (and refused unless it is made of characters that need no quoting at all, which the
 * spec's validation already guarantees), and used only as a quoted argument. Pure.
 */
import type { Spec } from '../../../model/spec.js';
import { OverlayError } from '../../../util/errors.js';
import { nodeS3Endpoint } from '../endpoints.js';
import { resourceNames, type ReleaseLocation } from './names.js';

/**
 * The user-data's S3 reads as shell functions (defined before use; run with the variables
 * `nodeUserData` assigns: `bucket`, `region`, `endpoint`, `spec_key`, `pointer_key`, `node`):
 * `s3get KEY FILE [get-object options]` and `fetch_spec DIR`, which leaves in `DIR/spec.yaml` the
 * version of the spec this node is to run and checks it validates. That version is the one the
 * node's desired-version pointer names (`apply --cluster`, `rollback`: docs/provisioning.md,
 * "Rolling a spec out"), at its S3 version id and with the pointer's spec hash, so a node replaced
 * in the middle of a stopped rollout boots on the version the operator gave it, not on the newest
 * object; without a pointer (none written yet, or `pointer_key` empty: a release that has none,
 * such as the CDK construct's assets), the newest. A missing pointer is S3's NoSuchKey, or
 * AccessDenied where the role may not list the bucket (AWS hides absence then); any other error
 * stops the boot. Values read from S3 are only ever quoted arguments. Exported for the test that
 * runs it against the lab's S3 with the node's policy (test/cloud/user-data-pointer.test.ts).
 */
export const SPEC_FETCH_SH = `# One GetObject (what the role's ReadRelease allows): a refusal shows S3's error code
# (AccessDenied), where \`s3 cp\`'s HeadObject first shows only "403 Forbidden".
s3get() {
  s3_key=$1; s3_out=$2; shift 2
  if [ -n "$endpoint" ]; then aws --region "$region" --endpoint-url "$endpoint" s3api get-object --bucket "$bucket" --key "$s3_key" "$@" "$s3_out" >/dev/null
  else aws --region "$region" s3api get-object --bucket "$bucket" --key "$s3_key" "$@" "$s3_out" >/dev/null; fi
}
# The spec version this node runs: its pointer's (apply --cluster), else the newest.
fetch_spec() {
  spec_version=''
  spec_hash=''
  if [ -n "$pointer_key" ]; then
    if s3get "$pointer_key" "$1/pointer.json" 2>"$1/pointer.err"; then
      spec_version=$(sed -n 's/.*"specVersion" *: *"\\([A-Za-z0-9._+=-]*\\)".*/\\1/p' "$1/pointer.json")
      spec_hash=$(sed -n 's/.*"specHash" *: *"\\([0-9a-f]*\\)".*/\\1/p' "$1/pointer.json")
      if [ -z "$spec_version" ]; then
        log "s3://$bucket/$pointer_key names no spec version: write it again with overlay-lb apply --cluster (or delete it to install the newest spec)"
        exit 1
      fi
    elif grep -q -e '(NoSuchKey)' -e '(AccessDenied)' "$1/pointer.err"; then
      log "no desired-version pointer s3://$bucket/$pointer_key: installing the newest spec"
    else
      cat "$1/pointer.err" >&2
      log "cannot read s3://$bucket/$pointer_key (above): the spec version of node $node is unknown"
      exit 1
    fi
  fi
  if [ -n "$spec_version" ]; then
    # --version-id=VALUE, one word: a version id may begin with "-" (S3's are opaque), which the
    # CLI's parser would take for an option in two words.
    s3get "$spec_key" "$1/spec.yaml" --version-id="$spec_version"
    log "spec fetched from s3://$bucket/$spec_key version $spec_version (the pointer of node $node)"
  else
    s3get "$spec_key" "$1/spec.yaml"
    log "spec fetched from s3://$bucket/$spec_key (newest)"
  fi
  if ! overlay-lb validate --json "$1/spec.yaml" >"$1/validate.json"; then
    cat "$1/validate.json" >&2
    log "s3://$bucket/$spec_key does not validate (above): nothing installed"
    exit 1
  fi
  got_hash=$(sed -n 's/.*"hash" *: *"\\([0-9a-f]*\\)".*/\\1/p' "$1/validate.json")
  if [ -n "$spec_hash" ] && [ "$got_hash" != "$spec_hash" ]; then
    log "s3://$bucket/$spec_key version $spec_version has spec hash $got_hash, its pointer s3://$bucket/$pointer_key says $spec_hash: run overlay-lb apply --cluster or rollback again"
    exit 1
  fi
}
`;

/** The key of node `node`'s pointer in `release` ('': the release has no pointers). */
function pointerKey(release: ReleaseLocation, node: string): string {
  return release.rollout === undefined ? '' : release.rollout.pointers.split('*').join(node);
}

/** Characters a value may have: none of them means anything to sh inside single quotes (or outside). */
const SAFE_SHELL_VALUE = /^[A-Za-z0-9@%+=:,./_~-]*$/;

/** `'value'`, for a value of SAFE_SHELL_VALUE's characters only (anything else: an error, never an escape). */
export function shellQuote(value: string, what: string): string {
  if (!SAFE_SHELL_VALUE.test(value)) {
    throw new OverlayError('SPEC_UNSAFE_VALUE', `${what} ${JSON.stringify(value)} cannot be written into the nodes' user-data: only letters, digits and @ % + = : , . / _ ~ - are allowed there`);
  }
  return `'${value}'`;
}

/** What a user-data script is rendered with besides the spec and the node. */
export interface NodeUserDataOptions {
  /**
   * Where the node reads the spec and the package. Its values are quoted like the spec's (the
   * same refusal of unsafe characters). @default `up`'s bucket and keys (`resourceNames(spec)`);
   * the CDK construct (constructs/) passes its S3 assets' location.
   */
  readonly release?: ReleaseLocation;
}

/** The user-data script of node `nodeName` (a name of `spec.cluster.nodes`). */
export function nodeUserData(spec: Spec, nodeName: string, options: NodeUserDataOptions = {}): string {
  const node = spec.cluster.nodes.find((n) => n.name === nodeName);
  if (node === undefined) throw new OverlayError('SPEC_NODE', `node ${JSON.stringify(nodeName)} is not in cluster.nodes`);
  const names = options.release ?? resourceNames(spec);
  const region = spec.cluster.cloud.region;
  if (region === undefined) throw new OverlayError('SPEC_REQUIRED', 'provisioning needs cluster.cloud.region');
  const vars = [
    `cluster=${shellQuote(spec.cluster.name, 'the cluster name')}`,
    `node=${shellQuote(node.name, 'the node name')}`,
    `region=${shellQuote(region, 'the region')}`,
    `bucket=${shellQuote(names.bucket, 'the bucket')}`,
    `spec_key=${shellQuote(names.specKey, 'the spec key')}`,
    `package_key=${shellQuote(names.packageKey, 'the package key')}`,
    `pointer_key=${shellQuote(pointerKey(names, node.name), 'the pointer key')}`,
    `endpoint=${shellQuote(nodeS3Endpoint(spec) ?? '', 'the S3 endpoint')}`,
    // Only a node of a release with pointers (up's) follows them: the CDK construct's nodes may
    // read their own S3 assets and nothing else (iam-policy.ts ReadRelease).
    `agent_args=${names.rollout === undefined ? "''" : "'--follow-release'"}`,
  ];
  return `#!/bin/sh
# overlay-lb user-data, written by \`overlay-lb up\` (docs/provisioning.md): installs the package
# and the spec from S3 with this instance's role, names this node and starts the agent.
set -eu
${vars.join('\n')}
export DEBIAN_FRONTEND=noninteractive
umask 077
log() { printf 'overlay-lb user-data: %s\\n' "$*"; }
${SPEC_FETCH_SH}log "cluster $cluster, node $node"
# The lab (docs/lab-ec2-api.md, "Instances") has no internet and no systemd; the package's
# dependencies and aws are on its host already. Only that differs.
lab=\${OVERLAY_LB_LAB:-}
if [ "$lab" != 1 ]; then
  apt-get update -q
  command -v aws >/dev/null 2>&1 || apt-get install -y -q awscli
else
  log "lab instance: no package index update, dependencies and aws are on the lab host"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
s3get "$package_key" "$work/overlay-lb.deb"
log "package fetched from s3://$bucket/$package_key"
apt-get install -y -q "$work/overlay-lb.deb"
log "package installed: $(overlay-lb --version)"
fetch_spec "$work"
install -m 0640 "$work/spec.yaml" /etc/overlay-lb/spec.yaml
printf 'OVERLAY_LB_NODE=%s\\nOVERLAY_LB_AGENT_ARGS=%s\\n' "$node" "$agent_args" > /etc/overlay-lb/agent.env
if [ "$lab" != 1 ]; then
  systemctl enable --now overlay-lb-agent
else
  # No systemd: what overlay-lb-agent.service does (its RuntimeDirectory and LogsDirectory, its
  # EnvironmentFile read without running it, its ExecStart in the background).
  install -d -m 0700 /run/overlay-lb
  install -d -m 0750 /var/log/overlay-lb
  # OVERLAY_LB_AGENT_ARGS is split on spaces, as systemd splits it in ExecStart.
  agent_node=$(sed -n 's/^OVERLAY_LB_NODE=//p' /etc/overlay-lb/agent.env)
  agent_args=$(sed -n 's/^OVERLAY_LB_AGENT_ARGS=//p' /etc/overlay-lb/agent.env)
  # shellcheck disable=SC2086
  nohup /usr/bin/overlay-lb agent --spec /etc/overlay-lb/spec.yaml --node "$agent_node" $agent_args </dev/null >>/var/log/overlay-lb/agent.log 2>&1 &
  log "agent output: /var/log/overlay-lb/agent.log"
fi
log "agent started"
`;
}
