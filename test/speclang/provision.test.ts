/**
 * The spec's `provision` section (overlay-lb up): defaults, every rule with its exact message, and
 * hostile values in each new string field (rejected at that field, or accepted only when it fits
 * the field's own alphabet: these values reach AWS API calls and the nodes' user-data).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import { formatPath } from '../../src/speclang/names.js';
import { formatDiagnostic } from '../../src/util/errors.js';

const CLUSTER = `cluster:
  name: shop
  vip: 192.168.100.10
  vpcCidrs: [10.0.0.0/16]
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
    - { name: lb-b, address: 10.0.2.10, zone: az-b }
  cloud: { provider: lab, region: us-east-1, vpcId: vpc-0de30000000000001 }`;

function spec(provision: string, o: { cluster?: string; admin?: string } = {}): string {
  return `${o.cluster ?? CLUSTER}
${o.admin ?? ''}
frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
  - name: api
    binds: [{ address: vip, port: 8443 }]
    defaultBackend: app
backends:
  - name: app
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]
${provision}
`;
}

const MINIMAL = `provision:
  imageId: ami-0123456789abcdef0
  clients: { web: [10.0.0.0/16], api: [10.0.0.0/8, 172.16.0.1/32] }
  bucket: olb-releases`;

function errors(yaml: string): string[] {
  const r = parseSpec(yaml, { file: 'p.yaml' });
  return r.ok ? [] : r.diagnostics.map(formatDiagnostic);
}

void test('provision: defaults (instance type, no subnets given, no admin clients, prefix from the cluster name)', () => {
  const r = parseSpec(spec(MINIMAL), { file: 'p.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  assert.deepEqual(r.spec.provision, {
    imageId: 'ami-0123456789abcdef0',
    instanceType: 't3.small',
    subnets: {},
    clients: [{ frontend: 'web', cidrs: ['10.0.0.0/16'] }, { frontend: 'api', cidrs: ['10.0.0.0/8', '172.16.0.1/32'] }],
    adminClients: [],
    bucket: 'olb-releases',
    prefix: 'shop/',
  });
});

void test('provision: every field given', () => {
  const r = parseSpec(spec(`provision:
  imageId: ami-0123456789abcdef0
  instanceType: c7g.large
  subnets: { az-a: subnet-0123456789abcdef0 }
  clients: { web: [10.0.0.0/16], api: [10.0.0.0/16] }
  adminClients: [10.9.0.0/24]
  bucket: my.bucket-1
  prefix: lb/prod/`, { admin: 'admin:\n  health: { bind: node }' }), { file: 'p.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  assert.equal(r.spec.provision?.instanceType, 'c7g.large');
  assert.deepEqual(r.spec.provision?.subnets, { 'az-a': 'subnet-0123456789abcdef0' });
  assert.deepEqual(r.spec.provision?.adminClients, ['10.9.0.0/24']);
  assert.equal(r.spec.provision?.prefix, 'lb/prod/');
  // An empty prefix puts the objects at the top of the bucket.
  const top = parseSpec(spec(`${MINIMAL}\n  prefix: ""`), { file: 'p.yaml' });
  assert.equal(top.ok && top.spec.provision?.prefix, '');
});

void test('a spec without provision has none (and the same hash as before the section existed)', () => {
  const r = parseSpec(spec(''), { file: 'p.yaml' });
  assert.ok(r.ok);
  assert.equal('provision' in r.spec, false);
});

const CASES: readonly { name: string; yaml: string; expected: string[] }[] = [
  { name: 'no cloud provider', yaml: spec(MINIMAL, { cluster: CLUSTER.replace(/\n {2}cloud:.*/, '') }), expected: [
    'p.yaml:20:3: provision: provision needs a cloud to provision into: set cluster.cloud.provider to aws (or lab) with its region and vpcId, or remove provision',
  ] },
  { name: 'no vpcId (failover eip)', yaml: spec(MINIMAL, { cluster: CLUSTER.replace('vpcId: vpc-0de30000000000001', 'failover: eip, eipAllocationId: eipalloc-01') }).replace('address: vip, port: 80', 'address: node, port: 80').replace('address: vip, port: 8443', 'address: node, port: 8443'), expected: [
    "p.yaml:21:3: provision: provision needs cluster.cloud.vpcId: the VPC the nodes, their security group and the role's route permissions belong to; for example vpcId: vpc-0123456789abcdef0",
  ] },
  { name: 'a frontend without clients, an unknown frontend', yaml: spec(MINIMAL.replace('clients: { web: [10.0.0.0/16], api: [10.0.0.0/8, 172.16.0.1/32] }', 'clients: { web: [10.0.0.0/16], apy: [10.0.0.0/8] }')), expected: [
    'p.yaml:22:12: provision.clients: frontend "api" has no client CIDRs: its ports would be reachable from nowhere; add api: [CIDR, ...], for example api: [10.0.0.0/16]',
    'p.yaml:22:39: provision.clients.apy: frontend "apy" is not defined (frontends: "web", "api"); list client CIDRs per frontend name. Did you mean "api"?',
  ] },
  { name: 'subnet for a zone without node', yaml: spec(`${MINIMAL}\n  subnets: { az-c: subnet-0123456789abcdef0 }`), expected: [
    'p.yaml:24:20: provision.subnets.az-c: zone "az-c" has no node (nodes are in "az-a", "az-b"); list a subnet only for a zone of cluster.nodes. Did you mean "az-a"?',
  ] },
  { name: 'adminClients with every admin listener on localhost', yaml: spec(`${MINIMAL}\n  adminClients: [10.9.0.0/24]`), expected: [
    'p.yaml:24:17: provision.adminClients: adminClients opens the admin listeners to these CIDRs, but every admin listener binds localhost (admin.stats, admin.health, admin.agent): remove adminClients, or bind a listener to node',
  ] },
  { name: 'bucket names S3 refuses', yaml: spec(MINIMAL.replace('bucket: olb-releases', 'bucket: Olb_Releases')), expected: [
    'p.yaml:23:11: provision.bucket: "Olb_Releases" is not a valid S3 bucket name (3-63 of a-z 0-9 . -, a letter or digit at both ends), for example "overlay-lb-releases"',
  ] },
  { name: 'bucket that looks like an IP address', yaml: spec(MINIMAL.replace('bucket: olb-releases', 'bucket: 10.0.0.1')), expected: [
    'p.yaml:23:11: provision.bucket: "10.0.0.1" is not a valid S3 bucket name: no "..", not an IP address, no xn--/sthree- prefix or -s3alias/--ol-s3 suffix; for example "overlay-lb-releases"',
  ] },
  { name: 'prefix with a .. segment, without trailing slash', yaml: spec(`${MINIMAL}\n  prefix: a/../b`), expected: [
    'p.yaml:24:11: provision.prefix: "a/../b" is not a valid S3 key prefix (segments of letters, digits, . _ - each ending in /, or ""), for example "overlay-lb/prod/"',
  ] },
  { name: 'image id, instance type, subnet id', yaml: spec(MINIMAL.replace('imageId: ami-0123456789abcdef0', 'imageId: ami-XYZ\n  instanceType: huge\n  subnets: { az-a: sub-1 }')), expected: [
    'p.yaml:21:12: provision.imageId: "ami-XYZ" is not a valid image id (ami- and 8 or 17 hex digits), for example "ami-0123456789abcdef0"',
    'p.yaml:22:17: provision.instanceType: "huge" is not a valid instance type, for example "t3.small"',
    'p.yaml:23:20: provision.subnets.az-a: "sub-1" is not a valid subnet id, for example "subnet-0123456789abcdef0"',
  ] },
  { name: 'empty client list, missing bucket', yaml: spec(MINIMAL.replace('web: [10.0.0.0/16]', 'web: []').replace('\n  bucket: olb-releases', '')), expected: [
    'p.yaml:21:3: provision: missing required field "bucket"',
    'p.yaml:22:19: provision.clients.web: list at least one CIDR, for example [10.0.0.0/16]',
  ] },
];

for (const c of CASES) {
  void test(`invalid provision: ${c.name}`, () => assert.deepEqual(errors(c.yaml), c.expected));
}

const HOSTILE = ['\n', '\r', '\0', "'", '#', '\\', '$', '$(id)', '`id`', '\u2028', '\t', '"', ' ', ';', '&', '|', '>', '*', '..', '/', '\u00e9', '\x1b[31m'];

/** A YAML double-quoted scalar with every non-printable character escaped. */
function yq(value: string): string {
  let out = '"';
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

const FIELDS: readonly { name: string; carrier: (v: string) => string; place: (q: string) => { yaml: string; path: (string | number)[] }; safe: RegExp }[] = [
  { name: 'imageId', carrier: (v) => `ami-0123${v}4567`, place: (q) => ({ yaml: spec(MINIMAL.replace('ami-0123456789abcdef0', q)), path: ['provision', 'imageId'] }), safe: /^ami-[0-9a-f]+$/ },
  { name: 'instanceType', carrier: (v) => `t3.${v}small`, place: (q) => ({ yaml: spec(`${MINIMAL}\n  instanceType: ${q}`), path: ['provision', 'instanceType'] }), safe: /^[a-z0-9-]+\.[a-z0-9]+$/ },
  { name: 'subnet id', carrier: (v) => `subnet-0123${v}4567`, place: (q) => ({ yaml: spec(`${MINIMAL}\n  subnets: { az-a: ${q} }`), path: ['provision', 'subnets', 'az-a'] }), safe: /^subnet-[0-9a-f]+$/ },
  { name: 'bucket', carrier: (v) => `olb${v}rel`, place: (q) => ({ yaml: spec(MINIMAL.replace('bucket: olb-releases', `bucket: ${q}`)), path: ['provision', 'bucket'] }), safe: /^[a-z0-9.-]+$/ },
  { name: 'prefix', carrier: (v) => `lb/a${v}b/`, place: (q) => ({ yaml: spec(`${MINIMAL}\n  prefix: ${q}`), path: ['provision', 'prefix'] }), safe: /^([A-Za-z0-9_-][A-Za-z0-9._-]*\/)*$/ },
];

for (const field of FIELDS) {
  void test(`hostile values in provision.${field.name}`, () => {
    assert.deepEqual(errors(field.place(yq(field.carrier(''))).yaml), [], 'the carrier itself must be valid');
    for (const fragment of HOSTILE) {
      const value = field.carrier(fragment);
      const { yaml, path } = field.place(yq(value));
      const r = parseSpec(yaml, { file: 'h.yaml' });
      const label = `${field.name} = ${JSON.stringify(value)}`;
      if (r.ok) {
        assert.match(value, field.safe, `${label} was accepted but is unsafe`);
        continue;
      }
      assert.ok(r.diagnostics.some((d) => formatPath(d.path) === formatPath(path)), `${label}: no diagnostic at ${formatPath(path)}: ${r.diagnostics.map(formatDiagnostic).join('\n')}`);
      for (const d of r.diagnostics) {
        assert.ok(['SPEC_UNSAFE_VALUE', 'SPEC_FORMAT'].includes(d.code), `${label}: unexpected ${d.code}: ${d.message}`);
        assert.doesNotMatch(formatDiagnostic(d), /[^\x20-\x7e]/, `${label}: the message carries an unsafe character`);
      }
    }
  });
}

void test('hostile zone keys and frontend names in provision are refused where they are written', () => {
  for (const fragment of HOSTILE) {
    const zone = errors(spec(`${MINIMAL}\n  subnets: { ${yq(`az-a${fragment}`)}: subnet-0123456789abcdef0 }`));
    assert.ok(zone.length > 0 && zone.every((e) => /provision\.subnets/.test(e) && /^[\x20-\x7e]*$/.test(e)), `${JSON.stringify(fragment)}: ${zone.join('\n')}`);
  }
});
