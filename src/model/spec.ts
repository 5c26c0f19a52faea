/**
 * The validated, normalized, deep-frozen model of an overlay-lb spec.
 *
 * Produced by `parseSpec` (src/speclang) from YAML; consumed by the renderers, the planner, the
 * reference evaluator (`explain`) and the agent. Every default is already applied here, every
 * duration is in milliseconds, every name is in its canonical form. This module imports nothing.
 *
 * Routing semantics (the contract that `explain` implements and the HAProxy renderer compiles):
 * 1. A frontend's routes are evaluated in order; the first route whose conditions all match wins.
 *    A route with no condition always matches. No match: the frontend's `defaultBackend`.
 * 2. `header`: the value of the header's LAST occurrence, whole (commas included), as HAProxy's
 *    `req.fhdr(name,-1)`. Header names are case-insensitive (stored lower-case); values are
 *    compared case-sensitively. `present`: the header occurs (even with an empty value).
 *    `absent`: it does not occur.
 * 3. `host`: the Host header (last occurrence), lower-cased, with a trailing `:port` removed.
 *    `exact` compares with the (lower-case) value; `suffix` tests that the host ends with it.
 * 4. `path`: the request path without the query string, exactly as received (no decoding).
 * 5. `method`: the request method is one of the listed ones (upper-case, case-sensitive).
 * 6. `source`: the client address lies in one of the CIDRs.
 * 7. `regex`: an unanchored search (as HAProxy's `-m reg`), case-sensitive, in the subset of
 *    regular expressions on which PCRE2 and JavaScript agree (validated by the spec layer).
 * 8. `split`: a bucket in [0, 100) is drawn; side i owns the buckets from the sum of the weights
 *    before it (inclusive) to that sum plus its own weight (exclusive). With a sticky key that is
 *    present in the request the bucket is `crc32(value) mod 100` (CRC-32 as zlib computes it, over
 *    the value's bytes), so one user always lands on the same side on every node; otherwise it is
 *    uniformly random.
 * 9. `switch`: the backend of the switch's active side.
 * 10. `query`: the value of the FIRST occurrence of the parameter in the query string (the part
 *    of the request target after the first `?`; parameters separated by `&`, `;` or `?`; the key is
 *    compared case-sensitively and as received), as HAProxy's `url_param(key)`. No
 *    percent-decoding: `%41` is three characters, `+` is a plus. A parameter written without
 *    `=` (`?debug`) is not present; `?debug=` is present with an empty value.
 * 11. `cookie`: the value of the cookie's LAST occurrence over every Cookie header (name
 *    case-sensitive), as HAProxy's `req.cook(name)`; `present`/`absent` as for headers.
 */

/** A dotted-quad IPv4 address, validated. */
export type Ipv4 = string;
/** An IPv4 network in canonical `a.b.c.d/len` form (host bits zero). */
export type Cidr = string;

export interface Spec {
  readonly version: 1;
  readonly cluster: Cluster;
  readonly admin: Admin;
  readonly frontends: readonly Frontend[];
  readonly backends: readonly Backend[];
  readonly switches: readonly Switch[];
  readonly discovery: readonly DiscoverySource[];
  /** What `overlay-lb up` provisions (absent: the spec is only run, not provisioned). */
  readonly provision?: Provision;
}

/**
 * The provisioning section (`overlay-lb up`, docs/provisioning.md). Ownership tags carry
 * `cluster.name`; names of what `up` creates are derived from it.
 */
export interface Provision {
  /** The LB nodes' image (Debian 12). */
  readonly imageId: string;
  /** @default "t3.small" */
  readonly instanceType: string;
  /** Zone -> subnet id; a zone not listed uses the VPC's subnet of that zone holding the node's address. */
  readonly subnets: Readonly<Record<string, string>>;
  /** Per frontend (every one, in the order written), the client CIDRs its ports accept. */
  readonly clients: readonly { readonly frontend: string; readonly cidrs: readonly Cidr[] }[];
  /** Who may reach the admin listeners bound beyond localhost. @default [] (nobody) */
  readonly adminClients: readonly Cidr[];
  /** The S3 bucket of the spec and the package (created and versioned when missing). */
  readonly bucket: string;
  /** Key prefix of the spec and the package: "" or ending in `/`. @default "<cluster name>/" */
  readonly prefix: string;
}

export interface Cluster {
  /** Safe name: lower-case letters, digits and '-', 1-32 characters. */
  readonly name: string;
  /** The virtual IP. Lies outside every CIDR in `vpcCidrs` and `peerCidrs`. */
  readonly vip: Ipv4;
  /** The VPC's CIDR blocks (the VIP must lie outside them). */
  readonly vpcCidrs: readonly Cidr[];
  /** CIDR blocks of peered VPCs and on-premises networks that reach the VIP. */
  readonly peerCidrs: readonly Cidr[];
  readonly nodes: readonly ClusterNode[];
  readonly vrrp: Vrrp;
  readonly cloud: Cloud;
}

export interface ClusterNode {
  readonly name: string;
  /** The node's primary private address (its ENI's address). */
  readonly address: Ipv4;
  /** Availability zone, for example `us-east-1a`. */
  readonly zone: string;
  /** VRRP priority 1-254. When absent in the spec: 200 - 10 x index (first node highest). */
  readonly priority: number;
  /** The interface that carries `address` and VRRP. @default "eth0" */
  readonly interface: string;
}

export interface Vrrp {
  /** 1-255. @default derived from the cluster name (crc32 mod 255 + 1) */
  readonly virtualRouterId: number;
  /** VRRPv3 advertisement interval, a multiple of 10 ms. @default 100 */
  readonly advertIntervalMs: number;
  /** @default true */
  readonly preempt: boolean;
  /** Delay before a higher-priority node that (re)starts takes over. @default 10000 */
  readonly preemptDelayMs: number;
  /**
   * The throwaway address keepalived manages so that VRRPv3 starts (never the VIP: keepalived
   * would delete the VIP on the backups, and HAProxy there could not bind it).
   * @default 169.254.240.<virtualRouterId>
   */
  readonly markerAddress: Ipv4;
}

export type CloudProvider = 'aws' | 'lab' | 'none';
export type FailoverMode = 'route' | 'eip';

export interface Cloud {
  readonly provider: CloudProvider;
  /** Required for `aws` and `lab`. */
  readonly region?: string;
  /** Required for `aws` and `lab` with failover mode `route`. */
  readonly vpcId?: string;
  /** EC2-compatible API endpoint override (the lab sets it). */
  readonly endpoint?: string;
  readonly routeTables: RouteTableSelector;
  readonly failover: FailoverMode;
  /** Elastic IP allocation id, required for failover mode `eip`. */
  readonly eipAllocationId?: string;
  /** How often a master re-checks every owned route table. @default 10000 */
  readonly recheckIntervalMs: number;
}

/** Which VPC route tables the cluster owns (writes the VIP route into). */
export type RouteTableSelector =
  | { readonly kind: 'all'; readonly exclude: readonly string[] }
  | { readonly kind: 'tags'; readonly tags: Readonly<Record<string, string>>; readonly exclude: readonly string[] }
  | { readonly kind: 'ids'; readonly ids: readonly string[] };

export interface Admin {
  /** HAProxy stats page and Prometheus exporter (`/metrics`) on one admin frontend. */
  readonly stats: AdminListener;
  /** Health URI frontend: fails while a frontend's default backend has no server up. */
  readonly health: { readonly bind: NodeLocalBind; readonly port: number; readonly path: string };
  /** Runtime API unix socket (mode 0600, level admin). @default /run/overlay-lb/haproxy.sock */
  readonly runtimeSocket: string;
  /** Master CLI unix socket, passed to haproxy with -S (mode 0600). @default /run/overlay-lb/haproxy-master.sock */
  readonly masterSocket: string;
  /** Directory for the keepalived notify FIFO, the track file and the agent's state. @default /run/overlay-lb */
  readonly stateDir: string;
  /** The agent's status/metrics HTTP endpoint. */
  readonly agent: { readonly bind: NodeLocalBind; readonly port: number };
  /**
   * Where HAProxy's access log and keepalived's log go. Absent when the spec leaves it out (so the
   * spec hash of older specs is unchanged): that means `DEFAULT_ACCESS_LOG`.
   */
  readonly accessLog?: AccessLogTarget;
}

/**
 * Where HAProxy's access log and keepalived's log go (`admin.accessLog`).
 * - `syslog`: HAProxy's workers send datagrams to `socket`, a path inside their chroot
 *   (`/dev/log` there is `/var/lib/haproxy/dev/log`, where the packaged unit binds journald's
 *   socket); keepalived logs through syslog(3) (`/dev/log`); both with `facility`.
 * - `file`: both write to pipes the agent drains into `path` (absent: `haproxy-access.log` in the
 *   run dir) and `keepalived.log` beside it, rotated at `maxBytes` keeping `keep` old files.
 * Either way HAProxy never blocks on its log: what it cannot write (a full pipe or socket queue)
 * it counts, and the agent exports that count (`overlay_lb_haproxy_dropped_logs_total`).
 */
export type AccessLogTarget =
  | { readonly to: 'syslog'; readonly socket: string; readonly facility: SyslogFacility }
  | { readonly to: 'file'; readonly path?: string; readonly maxBytes: number; readonly keep: number };

/** What `admin.accessLog` means when the spec leaves it out: journald on a systemd node. */
export const DEFAULT_ACCESS_LOG: Extract<AccessLogTarget, { to: 'syslog' }> = Object.freeze({ to: 'syslog', socket: '/dev/log', facility: 'local0' });

/** The syslog facilities both HAProxy and keepalived (`--log-facility`) accept. */
export const SYSLOG_FACILITIES = ['local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7', 'daemon', 'user'] as const;
export type SyslogFacility = (typeof SYSLOG_FACILITIES)[number];

/** Where an admin listener binds: never the VIP unless explicitly asked. */
export type AdminBind = 'localhost' | 'node' | 'vip';

/** Where the health URI and the agent listen: the node itself, never the VIP. */
export type NodeLocalBind = 'localhost' | 'node';

export interface AdminListener {
  readonly enabled: boolean;
  readonly bind: AdminBind;
  /** @default 8404 */
  readonly port: number;
  /** Required unless bind is `localhost`. */
  readonly auth?: { readonly user: string; readonly passwordHash: string };
}

export interface Frontend {
  readonly name: string;
  readonly mode: 'http' | 'tcp';
  readonly binds: readonly Bind[];
  readonly maxconn?: number;
  readonly timeouts: { readonly clientMs: number; readonly httpRequestMs: number; readonly httpKeepAliveMs: number };
  readonly accessLog: AccessLog;
  /** Add X-Forwarded-For (http mode). @default true */
  readonly forwardedFor: boolean;
  /** Set a request-id header when the request has none (http mode). */
  readonly requestId?: { readonly header: string };
  readonly defaultBackend: string;
  readonly routes: readonly Route[];
}

export interface Bind {
  /** `vip`, `node` (the node's own address) or an explicit IPv4 address. */
  readonly address: string;
  readonly port: number;
  readonly tls?: Tls;
}

/**
 * A TLS bind. Certificates are either chosen by HAProxy from the names inside the files
 * (`certificates`, the first is the default) or by the names the spec lists (`sni` +
 * `defaultCertificate`, rendered to a crt-list, exact names before `*.` wildcards of one label,
 * see src/speclang/tls-names.ts). Certificate files are rotated without a reload (Runtime API
 * `set ssl cert` / `commit ssl cert`) when their content changes; see docs/spec.md.
 */
export interface Tls {
  /** Absolute paths of PEM files (certificate + key), chosen by the names inside them. Empty with `sni`. */
  readonly certificates: readonly string[];
  /** Certificates chosen by the names the spec lists (a crt-list); `certificates` is then empty. */
  readonly sni?: SniCertificates;
  /** @default "TLSv1.2" */
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** TLS 1.2 cipher names (OpenSSL). @default Mozilla "intermediate" (the global default) */
  readonly ciphers?: readonly string[];
  /** TLS 1.3 suites. @default OpenSSL's three default suites (the global default) */
  readonly ciphersuites?: readonly string[];
  /** @default ["h2", "http/1.1"] for http mode */
  readonly alpn: readonly string[];
  /** Client-certificate verification (mTLS). */
  readonly clientCertificate?: ClientCertificate;
}

export interface SniCertificates {
  /** Served when no entry matches the client's name, or it sends none. */
  readonly defaultCertificate: string;
  /** Names (lower case; `*.` = exactly one label) -> certificate; exact names before wildcards. */
  readonly entries: readonly SniCertificate[];
}

export interface SniCertificate {
  readonly names: readonly string[];
  readonly certificate: string;
}

/**
 * Client certificates verified against `ca`. In http mode the frontend removes any incoming
 * `subjectHeader` / `verifiedHeader` and sets them itself, so a client cannot forge them.
 */
export interface ClientCertificate {
  /** PEM bundle of the accepted certificate authorities. */
  readonly ca: string;
  /** `required`: no certificate, no handshake. `optional`: a client may send none (a bad one is still refused). @default "required" */
  readonly verify: 'required' | 'optional';
  /** Gets the verified subject DN (RFC 2253). @default "x-client-subject" */
  readonly subjectHeader: string;
  /** Gets `true` when a certificate was presented and verified, else `false`. @default "x-client-verified" */
  readonly verifiedHeader: string;
}

export type AccessLog =
  | { readonly enabled: false }
  | { readonly enabled: true; readonly format: 'default' | 'json' }
  | { readonly enabled: true; readonly format: 'custom'; readonly custom: string };

export interface Route {
  /** Unique within its frontend. @default "route-<n>" (1-based position) */
  readonly name: string;
  readonly conditions: readonly Condition[];
  readonly action: RouteAction;
  /** Rewrites of the request before it is forwarded (forwarding actions only). */
  readonly requestHeaders?: HeaderRewrite;
  /** Rewrites of the response sent to the client (every action, redirects and fixed responses too). */
  readonly responseHeaders?: HeaderRewrite;
  /** HAProxy `timeout server` for requests of this route (forwarding actions only). */
  readonly timeoutMs?: number;
}

/**
 * Header rewrites, applied in this order: remove, set (replaces every occurrence), add (appends
 * one). Values are literal text with `${variable}` references to the request as received
 * (src/speclang/l7-strings.ts HEADER_VARIABLES); a variable with no value (no Host header, no query
 * string) is written as nothing, as HAProxy does.
 */
export interface HeaderRewrite {
  readonly remove: readonly string[];
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
}

/**
 * A redirect answered by the load balancer. Each part absent here keeps the request's: scheme
 * (http or https of the connection), host and port (the Host header as received; when only the
 * scheme changes the port is dropped, i.e. the new scheme's default), path and query string. A
 * port equal to the (literal) scheme's default is left out of the location.
 */
export interface Redirect {
  readonly scheme?: 'http' | 'https';
  /** Lower-case host name. */
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
  /** The query string without '?'; "" drops it. */
  readonly query?: string;
  readonly status: 301 | 302 | 303 | 307 | 308;
}

/** A fixed response answered by the load balancer. */
export interface FixedResponse {
  readonly status: number;
  /** @default "text/plain" when there is a body */
  readonly contentType?: string;
  readonly body?: { readonly kind: 'text'; readonly text: string } | { readonly kind: 'file'; readonly path: string };
}

export type StringMatch =
  | { readonly type: 'exact'; readonly value: string }
  | { readonly type: 'prefix'; readonly value: string }
  | { readonly type: 'regex'; readonly value: string };

export type Condition =
  | { readonly kind: 'header'; readonly name: string; readonly match: StringMatch | { readonly type: 'present' } | { readonly type: 'absent' } }
  | { readonly kind: 'host'; readonly match: { readonly type: 'exact' | 'suffix'; readonly value: string } }
  | { readonly kind: 'path'; readonly match: StringMatch }
  | { readonly kind: 'method'; readonly methods: readonly string[] }
  | { readonly kind: 'source'; readonly cidrs: readonly Cidr[] }
  /** A query-string parameter (routing semantics 10); `name` is the key as written (case-sensitive). */
  | { readonly kind: 'query'; readonly name: string; readonly match: StringMatch | { readonly type: 'present' } | { readonly type: 'absent' } }
  /** A request cookie (routing semantics 11); `name` as written (case-sensitive). */
  | { readonly kind: 'cookie'; readonly name: string; readonly match: StringMatch | { readonly type: 'present' } | { readonly type: 'absent' } };

export type RouteAction =
  | { readonly kind: 'backend'; readonly backend: string }
  | { readonly kind: 'split'; readonly sides: readonly SplitSide[]; readonly sticky?: StickyKey; readonly stickyCookie?: StickyCookie }
  | { readonly kind: 'switch'; readonly switch: string }
  | { readonly kind: 'redirect'; readonly redirect: Redirect }
  | { readonly kind: 'respond'; readonly respond: FixedResponse };

export interface SplitSide {
  readonly backend: string;
  /** Percent, 0-100; the sides of a split add up to 100. */
  readonly weight: number;
}

export type StickyKey = { readonly kind: 'header'; readonly name: string } | { readonly kind: 'cookie'; readonly name: string };

/**
 * A stickiness cookie the load balancer issues itself (the ALB's duration-based stickiness), so
 * clients that send no key of their own stay on one side. On a split (`stickyCookie` of the
 * action) its value is the backend of the side: a request whose cookie names a side of weight
 * > 0 goes there; any other request draws a side by weight and its response carries
 * `Set-Cookie: <name>=<backend>`. On a backend it is HAProxy's `cookie <name> insert indirect
 * nocache`, valued with the server (slot) name. Never with `sticky` on the same split.
 */
export interface StickyCookie {
  /** Cookie name, case-sensitive (HEADER_NAME_RE: a token without `;`, `=`, spaces). */
  readonly name: string;
  /** `Max-Age` in milliseconds (whole seconds); absent: a session cookie (no Max-Age). */
  readonly durationMs?: number;
  /** The `Secure` attribute. @default false */
  readonly secure: boolean;
  /** The `HttpOnly` attribute. @default true */
  readonly httpOnly: boolean;
  /** The `SameSite` attribute; absent: not sent (browsers then use Lax). `None` needs `secure`. */
  readonly sameSite?: 'Strict' | 'Lax' | 'None';
}

/** A named blue/green switch: routes point at it, its active side can flip at run time. */
export interface Switch {
  readonly name: string;
  /** Side name -> backend name, in spec order. */
  readonly sides: readonly { readonly name: string; readonly backend: string }[];
  readonly active: string;
}

export type BalanceAlgorithm =
  | { readonly kind: 'roundrobin' }
  | { readonly kind: 'leastconn' }
  | { readonly kind: 'source' }
  | { readonly kind: 'uri' }
  | { readonly kind: 'header'; readonly name: string };

export type HealthCheck =
  | { readonly type: 'none' }
  | { readonly type: 'tcp'; readonly intervalMs: number; readonly rise: number; readonly fall: number }
  | {
      readonly type: 'http';
      readonly path: string;
      /** Expected status codes, as inclusive ranges. @default [[200, 399]] */
      readonly expectStatus: readonly (readonly [number, number])[];
      readonly host?: string;
      readonly intervalMs: number;
      readonly rise: number;
      readonly fall: number;
    };

export interface Backend {
  readonly name: string;
  readonly mode: 'http' | 'tcp';
  readonly balance: BalanceAlgorithm;
  /** Static servers. Empty when `discovery` is set. */
  readonly servers: readonly Server[];
  readonly discovery?: { readonly source: string };
  /** Disabled server slots rendered for scale-out without reload. @default 0 (static), 32 (discovery) */
  readonly spareSlots: number;
  readonly healthCheck: HealthCheck;
  /** @default 3 */
  readonly retries: number;
  /** @default true */
  readonly redispatch: boolean;
  /** Per-server connection limit. */
  readonly serverMaxconn?: number;
  readonly timeouts: { readonly connectMs: number; readonly serverMs: number; readonly queueMs: number };
  /**
   * How long a discovered server that left the membership keeps its slot in state `drain` (no
   * new requests; requests in flight and keep-alive connections finish) before it goes to
   * maintenance and the sessions still open on it are shut down (the ALB's deregistration
   * delay). 0: at once. Static servers leave only with a spec change, i.e. a reload, whose old
   * worker finishes their requests (bounded by `hard-stop-after`). @default 30000
   */
  readonly drainMs: number;
  /**
   * HAProxy's `slowstart`: a server that joins (a discovered server filled into a slot, or any
   * server back from DOWN or maintenance) ramps its weight and connection limit linearly from
   * ~0 to full over this time. Not applied to servers present when haproxy (re)starts. 0: off.
   * @default 0
   */
  readonly slowStartMs: number;
  /** Stickiness to one server of this backend by a cookie the load balancer issues (http only). */
  readonly stickyCookie?: StickyCookie;
}

export interface Server {
  readonly name: string;
  readonly address: Ipv4;
  readonly port: number;
  /** 0-256. @default 100 */
  readonly weight: number;
  /** @default false */
  readonly backup: boolean;
}

export type DiscoverySource =
  | { readonly name: string; readonly type: 'file'; readonly path: string }
  | { readonly name: string; readonly type: 'dns'; readonly query: string; readonly recordType: 'A' | 'AAAA' | 'SRV'; readonly port?: number }
  | { readonly name: string; readonly type: 'etcd'; readonly endpoints: readonly string[]; readonly prefix: string }
  | { readonly name: string; readonly type: 'consul'; readonly address: string; readonly service: string; readonly tag?: string }
  | { readonly name: string; readonly type: 'ec2-tags'; readonly tags: Readonly<Record<string, string>>; readonly port: number };
