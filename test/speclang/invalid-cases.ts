/**
 * Invalid specs for test/speclang/invalid.test.ts, each with the exact diagnostics it must produce.
 * Every case starts from the same small valid spec (`base`) and changes one thing (or a few).
 */
import { parseSpec } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';

export interface Sections {
  top?: string;
  cluster?: string;
  admin?: string;
  frontends?: string;
  backends?: string;
  extra?: string;
}

const CLUSTER = `cluster:
  name: t
  vip: 192.168.100.10
  vpcCidrs: [10.0.0.0/16]
  peerCidrs: [10.1.0.0/16]
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
    - { name: lb-b, address: 10.0.2.10, zone: az-b }`;
const FRONTENDS = `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app`;
const BACKENDS = `backends:
  - name: app
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]
  - name: app-canary
    servers: [{ name: c1, address: 10.0.11.21, port: 8080 }]`;

/** A small valid spec with some sections replaced. */
export function base(s: Sections = {}): string {
  return [s.top ?? 'version: 1', s.cluster ?? CLUSTER, s.admin ?? '', s.frontends ?? FRONTENDS, s.backends ?? BACKENDS, s.extra ?? '']
    .filter((x) => x !== '')
    .join('\n')
    .concat('\n');
}

/** A spec whose one frontend `web` (VIP:80, default backend `app`) has these routes (YAML list items, indented 6). */
export function routesSpec(routes: string): string {
  return base({
    frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
${routes}`,
  });
}

/** validate's diagnostics for a spec text, formatted as the CLI prints them (none when it is valid). */
export function specErrors(yaml: string): string[] {
  const r = parseSpec(yaml, { file: 't.yaml' });
  return r.ok ? [] : r.diagnostics.map(formatDiagnostic);
}

export interface Case {
  readonly name: string;
  readonly yaml: string;
  readonly expected: readonly string[];
}

export const CASES: readonly Case[] = [
  { name: 'base is valid', yaml: base(), expected: [] },
  { name: 'unknown backend with did-you-mean', yaml: base({ frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
      - { when: [{ header: X-Canary, exact: "1" }], backend: app-canry }` }), expected: [
    "t.yaml:15:62: frontends[0].routes[0].backend: unknown backend \"app-canry\"; defined backends: app, app-canary. Did you mean \"app-canary\"?",
  ] },
  { name: 'duplicate backend names', yaml: base({ backends: `backends:
  - name: app
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]
  - name: app
    servers: [{ name: s2, address: 10.0.11.12, port: 8080 }]` }), expected: [
    "t.yaml:17:11: backends[1].name: duplicate backend name \"app\"; backends[0] already uses it: rename one",
  ] },
  { name: 'VIP inside the VPC CIDR', yaml: base({ cluster: CLUSTER.replace('vip: 192.168.100.10', 'vip: 10.0.200.1') }), expected: [
    "t.yaml:4:8: cluster.vip: VIP 10.0.200.1 lies inside VPC CIDR 10.0.0.0/16 (cluster.vpcCidrs[0]); the VIP must be outside every VPC and peer CIDR so that its /32 route can point at any node: choose an address outside them",
  ] },
  { name: 'VIP inside a peer CIDR', yaml: base({ cluster: CLUSTER.replace('vip: 192.168.100.10', 'vip: 10.1.3.4') }), expected: [
    "t.yaml:4:8: cluster.vip: VIP 10.1.3.4 lies inside peer CIDR 10.1.0.0/16 (cluster.peerCidrs[0]); the VIP must be outside every VPC and peer CIDR so that its /32 route can point at any node: choose an address outside them",
  ] },
  { name: 'regex that does not compile', yaml: base({ frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
      - { when: [{ path: { regex: "^/a(b" } }], backend: app-canary }` }), expected: [
    "t.yaml:15:35: frontends[0].routes[0].when[0].path.regex: regex \"^/a(b\" does not compile: /^/a(b/: Unterminated group",
  ] },
  { name: 'lookbehind regex', yaml: base({ frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
      - { when: [{ header: X-User, regex: "(?<!admin)x" }], backend: app-canary }` }), expected: [
    "t.yaml:15:43: frontends[0].routes[0].when[0].regex: regex \"(?<!admin)x\" uses a lookbehind ((?<=...) or (?<!...)), outside the supported subset; allowed: literal characters, ., [...] and [^...], \\d \\w \\s \\b (and their upper-case forms), escaped punctuation such as \\. or \\/, ^ and $, groups (...) and (?:...), | and the quantifiers * + ? {m} {m,} {m,n} (optionally lazy with ?)",
  ] },
  { name: 'named group, backreference and \\p escapes', yaml: base({ frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
      - { when: [{ header: X-A, regex: "(?<n>a)" }], backend: app-canary }
      - { when: [{ header: X-B, regex: "(a)\\\\1" }], backend: app-canary }
      - { when: [{ header: X-C, regex: "\\\\p{L}" }], backend: app-canary }` }), expected: [
    "t.yaml:15:40: frontends[0].routes[0].when[0].regex: regex \"(?<n>a)\" uses a named group, outside the supported subset; allowed: literal characters, ., [...] and [^...], \\d \\w \\s \\b (and their upper-case forms), escaped punctuation such as \\. or \\/, ^ and $, groups (...) and (?:...), | and the quantifiers * + ? {m} {m,} {m,n} (optionally lazy with ?)",
    "t.yaml:16:40: frontends[0].routes[1].when[0].regex: regex \"(a)\\\\1\" uses backreferences or octal escapes (\\1), outside the supported subset; allowed: literal characters, ., [...] and [^...], \\d \\w \\s \\b (and their upper-case forms), escaped punctuation such as \\. or \\/, ^ and $, groups (...) and (?:...), | and the quantifiers * + ? {m} {m,} {m,n} (optionally lazy with ?)",
    "t.yaml:17:40: frontends[0].routes[2].when[0].regex: regex \"\\\\p{L}\" uses Unicode property escapes (\\p{...}), outside the supported subset; allowed: literal characters, ., [...] and [^...], \\d \\w \\s \\b (and their upper-case forms), escaped punctuation such as \\. or \\/, ^ and $, groups (...) and (?:...), | and the quantifiers * + ? {m} {m,} {m,n} (optionally lazy with ?)",
  ] },
  { name: 'port out of range', yaml: base({ frontends: FRONTENDS.replace('port: 80', 'port: 70000') }), expected: [
    "t.yaml:12:35: frontends[0].binds[0].port: 70000 is out of range; allowed 1..65535",
  ] },
  { name: 'split weights not adding up to 100', yaml: base({ frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
      - split: [{ backend: app, weight: 90 }, { backend: app-canary, weight: 5 }]` }), expected: [
    "t.yaml:15:16: frontends[0].routes[0].split: the weights add up to 95 (90 + 5); they must add up to 100",
  ] },
  { name: 'split with one side', yaml: base({ frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
      - split: [{ backend: app, weight: 100 }]` }), expected: [
    "t.yaml:15:16: frontends[0].routes[0].split: a split needs at least 2 sides; to send all traffic to one backend write backend: NAME",
  ] },
  { name: 'split with the same backend twice', yaml: base({ frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
      - split: [{ backend: app, weight: 50 }, { backend: app, weight: 50 }]` }), expected: [
    "t.yaml:15:58: frontends[0].routes[0].split[1].backend: backend \"app\" already appears in split[0]; each side of a split needs its own backend (merge the weights)",
  ] },
  { name: 'two nodes with one address', yaml: base({ cluster: CLUSTER.replace('address: 10.0.2.10', 'address: 10.0.1.10') }), expected: [
    "t.yaml:9:30: cluster.nodes[1].address: duplicate node address \"10.0.1.10\"; cluster.nodes[0] already uses it: every node needs its own address",
  ] },
  { name: 'duplicate priorities', yaml: base({ cluster: CLUSTER.replace('zone: az-b }', 'zone: az-b, priority: 200 }') }), expected: [
    "t.yaml:9:63: cluster.nodes[1].priority: priority 200 equals the priority of node \"lb-a\" (derived: 200 - 10 x 0); give every node its own priority",
  ] },
  { name: 'unknown field typo with did-you-mean', yaml: base({ frontends: FRONTENDS.replace('defaultBackend: app', 'defaultBackend: app\n    forwardFor: true') }), expected: [
    "t.yaml:14:5: frontends[0].forwardFor: unknown field \"forwardFor\"; allowed fields: name, mode, binds, maxconn, timeouts, accessLog, forwardedFor, requestId, defaultBackend, routes. Did you mean \"forwardedFor\"?",
  ] },
  { name: 'wrong type', yaml: base({ frontends: FRONTENDS.replace('port: 80', 'port: "80"') }), expected: [
    "t.yaml:12:35: frontends[0].binds[0].port: expected a number, got the string \"80\"",
  ] },
  { name: 'bad enum value', yaml: base({ backends: BACKENDS.replace('  - name: app\n', '  - name: app\n    balance: leastcon\n') }), expected: [
    "t.yaml:16:14: backends[0].balance: \"leastcon\" is not allowed; allowed: roundrobin, leastconn, source, uri. Did you mean \"leastconn\"?",
  ] },
  { name: 'bad duration', yaml: base({ frontends: FRONTENDS + '\n    timeouts: { client: 30 seconds }' }), expected: [
    "t.yaml:14:25: frontends[0].timeouts.client: \"30 seconds\" is not a duration: use a whole number with a unit ms, s, m or h, for example \"500ms\", \"30s\", \"5m\"",
  ] },
  { name: 'advert interval not a multiple of 10ms', yaml: base({ cluster: CLUSTER + '\n  vrrp: { advertInterval: 105ms }' }), expected: [
    "t.yaml:10:27: cluster.vrrp.advertInterval: \"105ms\" is not a multiple of 10ms (VRRPv3 advertises in centiseconds); use 10ms..40950ms in steps of 10ms, for example \"110ms\"",
  ] },
  { name: 'advert interval out of range', yaml: base({ cluster: CLUSTER + '\n  vrrp: { advertInterval: 41s, preemptDelay: 20m }' }), expected: [
    "t.yaml:10:27: cluster.vrrp.advertInterval: \"41s\" is out of range; allowed 10ms..40950ms (VRRPv3 advertises in centiseconds)",
    "t.yaml:10:46: cluster.vrrp.preemptDelay: \"20m\" is out of range; allowed 0ms..1000s",
  ] },
  { name: 'missing required field', yaml: base({ frontends: FRONTENDS.replace('\n    defaultBackend: app', '') }), expected: [
    "t.yaml:11:5: frontends[0]: missing required field \"defaultBackend\"",
  ] },
  { name: 'header value with a single quote', yaml: base({ frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
      - { when: [{ header: X-Canary, exact: "it's" }], backend: app-canary }` }), expected: [
    "t.yaml:15:45: frontends[0].routes[0].when[0].exact: \"it's\" contains a single quote ('), which cannot be placed inside the single-quoted strings of haproxy.cfg: remove it (in a regex, match it with .)",
  ] },
  { name: 'path with a newline', yaml: base({ frontends: `frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
    routes:
      - { when: [{ path: { prefix: "/api\\nx" } }], backend: app-canary }` }), expected: [
    "t.yaml:15:36: frontends[0].routes[0].when[0].path.prefix: \"/api\\nx\" contains the character \\n at position 5; only printable ASCII (0x20-0x7e) is allowed: remove it",
  ] },
  { name: 'unsafe name', yaml: base({ backends: BACKENDS.replace('name: app-canary', 'name: "web;rm"') }), expected: [
    "t.yaml:17:11: backends[1].name: \"web;rm\" is not a valid backend name: use lower-case letters, digits and '-', starting with a letter, at most 63 characters, for example \"web-rm\"",
  ] },
  { name: 'reserved name prefix', yaml: base({ backends: BACKENDS.replace('name: app-canary', 'name: olb-stats') }), expected: [
    't.yaml:17:11: backends[1].name: "olb-stats" is not a valid backend name: names starting with "olb-" are reserved for what overlay-lb generates; choose another prefix',
  ] },
  { name: 'name with upper case', yaml: base({ frontends: FRONTENDS.replace('name: web', 'name: Web_Front') }), expected: [
    "t.yaml:11:11: frontends[0].name: \"Web_Front\" is not a valid frontend name: use lower-case letters, digits and '-', starting with a letter, at most 63 characters, for example \"web-front\"",
  ] },
  { name: 'relative certificate path', yaml: base({ frontends: FRONTENDS.replace('port: 80 }', 'port: 443, tls: { certificates: [certs/web.pem] } }') }), expected: [
    "t.yaml:12:62: frontends[0].binds[0].tls.certificates[0]: \"certs/web.pem\" is not an absolute path: file paths must start with '/', for example \"/etc/overlay-lb/certs/web.pem\"",
  ] },
  { name: 'stats on node without auth', yaml: base({ admin: 'admin:\n  stats: { bind: node, port: 8404 }' }), expected: [
    "t.yaml:11:10: admin.stats: stats bound to \"node\" needs auth: {user, passwordHash}; only bind: localhost may go without authentication",
  ] },
  { name: 'plaintext password', yaml: base({ admin: 'admin:\n  stats: { bind: node, auth: { user: ops, passwordHash: hunter2 } }' }), expected: [
    "t.yaml:11:57: admin.stats.auth.passwordHash: the value is not a crypt(3) password hash ($5$..., $6$... or $y$...); never put a plain password in the spec: generate a hash with `mkpasswd -m sha-512` or `openssl passwd -6`",
  ] },
  { name: 'eip without allocation id', yaml: base({ cluster: CLUSTER + '\n  cloud: { provider: aws, region: us-east-1, failover: eip }', frontends: FRONTENDS.replace('address: vip', 'address: node') }), expected: [
    "t.yaml:10:10: cluster.cloud: failover \"eip\" needs eipAllocationId (the Elastic IP to move), for example eipAllocationId: eipalloc-0123456789abcdef0",
  ] },
  { name: 'route failover on aws without vpcId', yaml: base({ cluster: CLUSTER + '\n  cloud: { provider: aws, region: us-east-1 }' }), expected: [
    "t.yaml:10:10: cluster.cloud: provider \"aws\" with failover \"route\" needs vpcId (the VPC whose route tables carry the VIP), for example vpcId: vpc-0123456789abcdef0",
  ] },
  { name: 'one node with provider lab', yaml: base({ cluster: CLUSTER.replace('\n    - { name: lb-b, address: 10.0.2.10, zone: az-b }', '') + '\n  cloud: { provider: lab, region: us-east-1, vpcId: vpc-1 }' }), expected: [
    "t.yaml:8:5: cluster.nodes: provider \"lab\" needs at least 2 nodes for failover, got 1; add a node in another zone, or use provider: none for a single node",
  ] },
  { name: 'switch active side missing', yaml: base({ extra: 'switches:\n  - { name: sw, sides: { blue: app, green: app-canary }, active: gren }' }), expected: [
    "t.yaml:20:66: switches[0].active: unknown side \"gren\"; sides of switch \"sw\": blue, green. Did you mean \"green\"?",
  ] },
  { name: 'tcp frontend with routes', yaml: base({ frontends: `frontends:
  - name: db
    mode: tcp
    binds: [{ address: vip, port: 5432 }]
    defaultBackend: app
    routes:
      - { backend: app-canary }` }), expected: [
    "t.yaml:16:7: frontends[0].routes: tcp frontend \"db\" cannot have routes (they match HTTP requests); set mode: http or remove the routes",
  ] },
  { name: 'http frontend to tcp backend', yaml: base({ backends: BACKENDS.replace('  - name: app\n', '  - name: app\n    mode: tcp\n') }), expected: [
    "t.yaml:13:21: frontends[0].defaultBackend: http frontend \"web\" cannot send to tcp backend \"app\"; set the backend's mode to http or the frontend's mode to tcp",
  ] },
  { name: 'duplicate bind', yaml: base({ frontends: FRONTENDS + '\n  - name: web2\n    binds: [{ address: vip, port: 80 }]\n    defaultBackend: app' }), expected: [
    "t.yaml:15:13: frontends[1].binds[0]: vip:80 is already bound by frontends[0].binds[0] (vip:80); each address and port can be bound once per node: change the port or the address",
  ] },
  { name: 'admin port colliding with a bind', yaml: base({ admin: 'admin:\n  stats: { port: 80, bind: vip, auth: { user: ops, passwordHash: "$6$saltsalt$abcdefgh" } }' }), expected: [
    "t.yaml:11:18: admin.stats.port: port 80 of the stats listener (bind vip) collides with frontends[0].binds[0] (vip:80); choose another port",
  ] },
  { name: 'access log target unknown', yaml: base({ admin: 'admin:\n  accessLog: { to: journald }' }), expected: [
    't.yaml:11:20: admin.accessLog.to: "journald" is not allowed; allowed: syslog, file.',
  ] },
  { name: 'access log target missing', yaml: base({ admin: 'admin:\n  accessLog: { maxSizeMiB: 10 }' }), expected: [
    't.yaml:11:14: admin.accessLog: missing required field "to"; allowed: syslog, file',
  ] },
  { name: 'access log field of the other target', yaml: base({ admin: 'admin:\n  accessLog: { to: file, socket: /dev/log }' }), expected: [
    't.yaml:11:26: admin.accessLog.socket: unknown field "socket"; allowed fields: to, path, maxSizeMiB, keep.',
  ] },
  { name: 'access log facility unknown', yaml: base({ admin: 'admin:\n  accessLog: { to: syslog, facility: local8 }' }), expected: [
    't.yaml:11:38: admin.accessLog.facility: "local8" is not allowed; allowed: local0, local1, local2, local3, local4, local5, local6, local7, daemon, user. Did you mean "local0"?',
  ] },
  { name: 'access log rotation size out of range', yaml: base({ admin: 'admin:\n  accessLog: { to: file, maxSizeMiB: 0, keep: 101 }' }), expected: [
    't.yaml:11:38: admin.accessLog.maxSizeMiB: 0 is out of range; allowed 1..10240',
    't.yaml:11:47: admin.accessLog.keep: 101 is out of range; allowed 1..100',
  ] },
  { name: 'health URI on the VIP', yaml: base({ admin: 'admin:\n  health: { port: 8405, bind: vip }' }), expected: [
    't.yaml:11:31: admin.health.bind: "vip" is not allowed; allowed: localhost, node.',
  ] },
  { name: 'discovery source unknown', yaml: base({ backends: BACKENDS + '\n  - name: dyn\n    discovery: { source: consul-ap }', extra: 'discovery:\n  - { name: consul-app, type: consul, address: "http://127.0.0.1:8500", service: app }' }), expected: [
    "t.yaml:20:26: backends[2].discovery.source: unknown discovery source \"consul-ap\"; defined discovery sources: consul-app. Did you mean \"consul-app\"?",
  ] },
  { name: 'servers and discovery both set', yaml: base({ backends: BACKENDS.replace('port: 8080 }]\n  - name: app-canary', 'port: 8080 }]\n    discovery: { source: dns }\n  - name: app-canary'), extra: 'discovery:\n  - { name: dns, type: dns, query: app.internal, port: 80 }' }), expected: [
    "t.yaml:15:5: backends[0]: backend \"app\" takes exactly one of servers, discovery, found servers and discovery; keep one",
  ] },
  { name: 'YAML syntax error', yaml: base({ frontends: FRONTENDS.replace('[{ address: vip, port: 80 }]', '[{ address: vip, port: 80 }') }), expected: [
    "t.yaml:13:5: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]",
  ] },
  { name: 'duplicate YAML key', yaml: base({ frontends: FRONTENDS + '\n    defaultBackend: app-canary' }), expected: [
    "t.yaml:14:5: duplicate key \"defaultBackend\" in this map; each key may appear once: remove or merge one of them",
  ] },
  { name: 'route with two actions', yaml: base({ frontends: FRONTENDS + '\n    routes:\n      - { backend: app, switch: sw }' }), expected: [
    "t.yaml:15:9: frontends[0].routes[0]: a route takes exactly one of backend, split, switch, redirect, respond, found backend and switch; keep one",
    "t.yaml:15:33: frontends[0].routes[0].switch: unknown switch \"sw\"; no switches are defined",
  ] },
  { name: 'condition with two subjects', yaml: base({ frontends: FRONTENDS + '\n    routes:\n      - { when: [{ host: a.example.com, path: { prefix: / } }], backend: app }' }), expected: [
    "t.yaml:15:18: frontends[0].routes[0].when[0]: a condition takes exactly one of header, host, path, method, source, query, cookie, found host and path; keep one",
  ] },
  { name: 'lower-case method and bad CIDR', yaml: base({ frontends: FRONTENDS + '\n    routes:\n      - { when: [{ method: get }, { source: 10.0.0.0/33 }], backend: app }' }), expected: [
    "t.yaml:15:28: frontends[0].routes[0].when[0].method: \"get\" is not an upper-case HTTP method such as GET or POST; methods are case-sensitive: did you mean \"GET\"?",
    "t.yaml:15:45: frontends[0].routes[0].when[1].source: \"10.0.0.0/33\" is not an IPv4 CIDR, for example \"10.0.0.0/16\"",
  ] },
  { name: 'bad discovery type', yaml: base({ extra: 'discovery:\n  - { name: s, type: zookeeper }' }), expected: [
    "t.yaml:20:22: discovery[0].type: \"zookeeper\" is not allowed; allowed: file, dns, etcd, consul, ec2-tags.",
  ] },
  { name: 'empty document', yaml: '# nothing here\n', expected: [
    "t.yaml:1:1: the spec is empty: expected a map with cluster, frontends and backends (see examples/demo.yaml)",
  ] },
  { name: 'node outside the VPC CIDR and version 2', yaml: base({ top: 'version: 2', cluster: CLUSTER.replace('address: 10.0.2.10', 'address: 10.9.2.10') }), expected: [
    "t.yaml:1:10: version: 2 is not allowed; allowed: 1.",
    "t.yaml:9:30: cluster.nodes[1].address: node address 10.9.2.10 lies outside every VPC CIDR (10.0.0.0/16); a node's address is its private address inside the VPC: fix the address or add its CIDR to vpcCidrs",
  ] },
  { name: 'server weight out of range and duplicate server', yaml: base({ backends: BACKENDS.replace('servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]', 'servers:\n      - { name: s1, address: 10.0.11.11, port: 8080, weight: 300 }\n      - { name: s1, address: 10.0.11.12, port: 8080 }') }), expected: [
    "t.yaml:17:62: backends[0].servers[0].weight: 300 is out of range; allowed 0..256",
    "t.yaml:18:17: backends[0].servers[1].name: duplicate server name \"s1\"; backends[0].servers[0] already uses it: rename one",
  ] },
  { name: 'virtualRouterId out of range', yaml: base({ cluster: CLUSTER + '\n  vrrp: { virtualRouterId: 256 }' }), expected: [
    "t.yaml:10:28: cluster.vrrp.virtualRouterId: 256 is out of range; allowed 1..255",
  ] },
  { name: 'host with a port, header name with a space', yaml: base({ frontends: FRONTENDS + '\n    routes:\n      - { when: [{ host: "a.example.com:8080" }, { header: "X Bad", present: true }], backend: app }' }), expected: [
    "t.yaml:15:26: frontends[0].routes[0].when[0].host: \"a.example.com:8080\" is not a host name: use letters, digits, '-' and '.' (no port, no scheme), for example \"api.example.com\"",
    "t.yaml:15:60: frontends[0].routes[0].when[1].header: \"X Bad\" is not a valid header name: use letters, digits, '_', '.' and '-', starting with a letter or digit, at most 128 characters",
  ] },
  { name: 'tcp health check with a path', yaml: base({ backends: BACKENDS + '\n    healthCheck: { type: tcp, path: /health }' }), expected: [
    "t.yaml:19:37: backends[1].healthCheck.path: path does not apply to a tcp health check; remove it or use type: http",
  ] },
  // The outside battery of issue 15: values HAProxy or keepalived would read as syntax or refuse.
  { name: "eip frontend bound only to the VIP", yaml: base({ cluster: CLUSTER + '\n  cloud: { provider: aws, region: us-east-1, failover: eip, eipAllocationId: eipalloc-0abc }', frontends: FRONTENDS + '\n  - name: api\n    binds: [{ address: vip, port: 81 }, { address: 192.168.100.10, port: 82 }]\n    defaultBackend: app\n  - name: ok\n    binds: [{ address: vip, port: 83 }, { address: node, port: 83 }]\n    defaultBackend: app' }), expected: [
    "t.yaml:13:12: frontends[0].binds: frontend \"web\" binds only the VIP (192.168.100.10), but with failover: eip the Elastic IP's traffic arrives at the active node's private address, so this frontend would never receive it: bind the node's address instead (address: node, or 0.0.0.0 for every address), for example binds: [{ address: node, port: 80 }]",
    "t.yaml:16:12: frontends[1].binds: frontend \"api\" binds only the VIP (192.168.100.10), but with failover: eip the Elastic IP's traffic arrives at the active node's private address, so this frontend would never receive it: bind the node's address instead (address: node, or 0.0.0.0 for every address), for example binds: [{ address: node, port: 81 }]",
  ] },
  { name: "vip 0.0.0.0", yaml: base({ cluster: CLUSTER.replace('vip: 192.168.100.10', 'vip: 0.0.0.0') }), expected: [
    "t.yaml:4:8: cluster.vip: VIP 0.0.0.0 is in 0.0.0.0/8 (\"this network\", the wildcard address); the VIP must be a unicast address that a route can point at, outside the VPC, for example 192.168.100.10",
  ] },
  { name: "vip loopback", yaml: base({ cluster: CLUSTER.replace('vip: 192.168.100.10', 'vip: 127.0.0.1') }), expected: [
    "t.yaml:4:8: cluster.vip: VIP 127.0.0.1 is a loopback address (127.0.0.0/8); the VIP must be a unicast address that a route can point at, outside the VPC, for example 192.168.100.10",
  ] },
  { name: "vip broadcast", yaml: base({ cluster: CLUSTER.replace('vip: 192.168.100.10', 'vip: 255.255.255.255') }), expected: [
    "t.yaml:4:8: cluster.vip: VIP 255.255.255.255 is reserved or the broadcast address (240.0.0.0/4, 255.255.255.255); the VIP must be a unicast address that a route can point at, outside the VPC, for example 192.168.100.10",
  ] },
  { name: "vip multicast", yaml: base({ cluster: CLUSTER.replace('vip: 192.168.100.10', 'vip: 224.0.0.18') }), expected: [
    "t.yaml:4:8: cluster.vip: VIP 224.0.0.18 is a multicast address (224.0.0.0/4); the VIP must be a unicast address that a route can point at, outside the VPC, for example 192.168.100.10",
  ] },
  { name: "vip link-local", yaml: base({ cluster: CLUSTER.replace('vip: 192.168.100.10', 'vip: 169.254.169.254') }), expected: [
    "t.yaml:4:8: cluster.vip: VIP 169.254.169.254 is link-local (169.254.0.0/16); the VIP must be a unicast address that a route can point at, outside the VPC, for example 192.168.100.10",
  ] },
  { name: "node address multicast", yaml: base({ cluster: CLUSTER.replace('  vpcCidrs: [10.0.0.0/16]\n', '').replace('address: 10.0.2.10', 'address: 224.0.0.5') }), expected: [
    "t.yaml:8:30: cluster.nodes[1].address: node address 224.0.0.5 is a multicast address (224.0.0.0/4); a node's address is its own unicast private address (its ENI's), for example 10.0.1.10",
  ] },
  { name: "marker address is the VIP", yaml: base({ cluster: CLUSTER + '\n  vrrp: { markerAddress: 192.168.100.10 }' }), expected: [
    "t.yaml:10:26: cluster.vrrp.markerAddress: markerAddress 192.168.100.10 is the VIP; keepalived manages the marker address and deletes it on every backup, where HAProxy then cannot bind the VIP: remove markerAddress (default 169.254.240.<virtualRouterId>) or choose an unused link-local address such as 169.254.240.1",
  ] },
  { name: "marker address is a node address", yaml: base({ cluster: CLUSTER + '\n  vrrp: { markerAddress: 10.0.2.10 }' }), expected: [
    "t.yaml:10:26: cluster.vrrp.markerAddress: markerAddress 10.0.2.10 is the address of node \"lb-b\"; keepalived would delete it on every backup: remove markerAddress or choose an unused link-local address such as 169.254.240.1",
  ] },
  { name: "marker address multicast", yaml: base({ cluster: CLUSTER + '\n  vrrp: { markerAddress: 224.0.0.1 }' }), expected: [
    "t.yaml:10:26: cluster.vrrp.markerAddress: markerAddress 224.0.0.1 is a multicast address (224.0.0.0/4); keepalived puts the marker on lo of the master: choose an unused link-local address such as 169.254.240.1",
  ] },
  { name: "CIDRs with host bits", yaml: base({ cluster: CLUSTER.replace('[10.0.0.0/16]', '[10.10.0.0/8]'), frontends: FRONTENDS + '\n    routes:\n      - { when: [{ source: [10.0.0.0/8, 192.168.1.1/24] }], backend: app }' }), expected: [
    "t.yaml:5:14: cluster.vpcCidrs[0]: \"10.10.0.0/8\" has host bits set after the /8 prefix, so it means the network 10.0.0.0/8: write \"10.0.0.0/8\", or a longer prefix if you meant a smaller network",
    "t.yaml:15:41: frontends[0].routes[0].when[0].source[1]: \"192.168.1.1/24\" has host bits set after the /24 prefix, so it means the network 192.168.1.0/24: write \"192.168.1.0/24\", or a longer prefix if you meant a smaller network",
  ] },
  { name: "interface alias eth0:1", yaml: base({ cluster: CLUSTER.replace('zone: az-a }', 'zone: az-a, interface: "eth0:1" }') }), expected: [
    "t.yaml:8:64: cluster.nodes[0].interface: \"eth0:1\" is an address label (alias), not an interface: keepalived sends VRRP on the interface itself; write \"eth0\"",
  ] },
  { name: "health paths with a backslash and a double quote", yaml: base({ admin: 'admin:\n  health: { path: "/he\\\\alth" }', backends: BACKENDS + '\n    healthCheck: { type: http, path: "/a\\"b" }' }), expected: [
    "t.yaml:11:19: admin.health.path: \"/he\\\\alth\" contains \"\\\\\" at position 4: it is not a URL path character (RFC 3986); percent-encode it as %5C",
    "t.yaml:21:38: backends[1].healthCheck.path: \"/a\\\"b\" contains \"\\\"\" at position 3: it is not a URL path character (RFC 3986); percent-encode it as %22",
  ] },
  { name: "health paths with $ and a bad percent escape", yaml: base({ admin: 'admin:\n  health: { path: "/h$HOME" }', backends: BACKENDS + '\n    healthCheck: { type: http, path: "/a%zz" }' }), expected: [
    "t.yaml:11:19: admin.health.path: \"/h$HOME\" contains \"$\" at position 3: HAProxy would expand \"$NAME\" in it as an environment variable; percent-encode it as %24",
    "t.yaml:21:38: backends[1].healthCheck.path: \"/a%zz\" has a '%' at position 3 that is not followed by two hex digits; write a literal '%' as %25",
  ] },
  { name: "regexes that JavaScript accepts and PCRE2 rejects", yaml: base({ frontends: FRONTENDS + `\n    routes:\n      - { when: [{ header: X-A, regex: '^[\\w-.]+$' }], backend: app }\n      - { when: [{ header: X-A, regex: '[\\d-z]' }], backend: app }\n      - { when: [{ header: X-A, regex: 'a{65536}' }], backend: app }\n      - { when: [{ path: { regex: '${'('.repeat(40)}a${')'.repeat(40)}' } }], backend: app }\n      - { when: [{ path: { regex: '(ab){5000}' } }], backend: app }` }), expected: [
    "t.yaml:15:40: frontends[0].routes[0].when[0].regex: regex \"^[\\\\w-.]+$\" uses '-' next to \\w inside [...]: PCRE2 (HAProxy) rejects a range that starts or ends with a class escape (\"invalid range in character class\") while JavaScript reads the '-' as a literal; escape it as \\- or put it last in the class",
    "t.yaml:16:40: frontends[0].routes[1].when[0].regex: regex \"[\\\\d-z]\" uses '-' next to \\d inside [...]: PCRE2 (HAProxy) rejects a range that starts or ends with a class escape (\"invalid range in character class\") while JavaScript reads the '-' as a literal; escape it as \\- or put it last in the class",
    "t.yaml:17:40: frontends[0].routes[2].when[0].regex: regex \"a{65536}\" repeats 65536 times in {65536}; PCRE2 (HAProxy) allows at most 65535 (\"number too big in {} quantifier\"): lower the count or use + or *",
    "t.yaml:18:35: frontends[0].routes[3].when[0].path.regex: regex \"((((((((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))))))))\" nests groups more than 32 deep; at most 32 levels are allowed (PCRE2 stops at 250): flatten the groups",
    "t.yaml:19:35: frontends[0].routes[4].when[0].path.regex: regex \"(ab){5000}\" is too large to compile in PCRE2 (HAProxy), whose compiled form of a regex holds 65535 units: its repetitions and classes come to about 90000 units, at most 20000 are allowed; lower the repeat counts of groups ((...){n} is compiled as n copies) or split the route",
  ] },
  { name: "33 conditions on one route", yaml: base({ frontends: FRONTENDS + `\n    routes:\n      - when: [${Array.from({ length: 33 }, (_, i) => `{ header: X-${i}, present: true }`).join(', ')}]\n        backend: app` }), expected: [
    "t.yaml:15:15: frontends[0].routes[0].when: a route takes at most 32 conditions (HAProxy reads at most 64 words per line); combine some: a source or method condition takes a list, and one regex can replace several header or path conditions on the same subject",
  ] },
  { name: "33 nodes", yaml: base({ cluster: `cluster:\n  name: t\n  vip: 192.168.100.10\n  nodes:\n${Array.from({ length: 33 }, (_, i) => `    - { name: n${i}, address: 10.0.${i}.10, zone: az-a }`).join('\n')}` }), expected: [
    "t.yaml:6:5: cluster.nodes: list at most 32 nodes (one VRRP group: every node advertises to every other one)",
  ] },
  { name: "a header value over 4096 characters", yaml: base({ frontends: FRONTENDS + `\n    routes:\n      - { when: [{ header: X-A, exact: ${'v'.repeat(4097)} }], backend: app }` }), expected: [
    "t.yaml:15:40: frontends[0].routes[0].when[0].exact: the value starting \"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\" is 4097 characters long; at most 4096 are allowed (HAProxy holds a whole request head in 16384 bytes): shorten it",
  ] },
  { name: "log formats HAProxy refuses", yaml: base({ frontends: FRONTENDS + `\n    accessLog: { custom: '%ciliteral %' }\n  - name: t2\n    binds: [{ address: vip, port: 81 }]\n    defaultBackend: app\n    accessLog: { custom: 'x %[src' }\n  - name: t3\n    binds: [{ address: vip, port: 82 }]\n    defaultBackend: app\n    accessLog: { custom: '%{+Q' }\n  - name: t4\n    mode: tcp\n    binds: [{ address: vip, port: 83 }]\n    defaultBackend: app\n    accessLog: { custom: '%ci %Tr %HM %Tr' }` }), expected: [
    "t.yaml:14:26: frontends[0].accessLog.custom: log format \"%ciliteral %\" uses the unknown variable %ciliteral at position 1; HAProxy refuses it: a variable name runs over letters and digits: to follow %ci with text, put a non-alphanumeric character between them (for example %ci-literal)",
    "t.yaml:18:26: frontends[1].accessLog.custom: log format \"x %[src\" has a sample expression '%[' at position 3 without a fetch and a closing ']'; HAProxy refuses it: write it as %[src] (a literal '%' is %%)",
    "t.yaml:22:26: frontends[2].accessLog.custom: log format \"%{+Q\" opens flags with '%{' at position 1 but never closes them with '}'; HAProxy refuses it: close them, as in %{+Q}r",
    "t.yaml:27:26: frontends[3].accessLog.custom: tcp frontend \"t4\" logs %Tr, %HM, which HAProxy allows only in http mode; remove them or set mode: http",
  ] },
];

