/**
 * Structurally valid input -> model: applies every default (one function per section), converts
 * durations to milliseconds, lower-cases header names and hosts, canonicalises CIDRs and derives
 * priorities, the virtual router id and the marker address. Pure; assumes `schema.ts` passed.
 */
import type {
  AccessLog,
  AccessLogTarget,
  Admin,
  Backend,
  BalanceAlgorithm,
  Cloud,
  Cluster,
  Condition,
  FixedResponse,
  HeaderRewrite,
  Redirect,
  DiscoverySource,
  Frontend,
  Provision,
  HealthCheck,
  Route,
  RouteAction,
  RouteTableSelector,
  StickyCookie,
  Switch,
  Tls,
} from '../model/spec.js';
import { DEFAULT_ACCESS_LOG } from '../model/spec.js';
import { crc32 } from '../util/crc32.js';
import { parseDuration } from './duration.js';
import { parseCidr } from '../util/ipv4.js';
import type {
  AdminInput,
  BackendInput,
  ClusterInput,
  ConditionInput,
  DiscoverySourceInput,
  FrontendInput,
  ProvisionInput,
  RouteInput,
  SwitchInput,
} from './schema.js';

/** Default directory of sockets and state. */
export const DEFAULT_RUN_DIR = '/run/overlay-lb';

function ms(value: string | undefined, fallback: number): number {
  return value === undefined ? fallback : (parseDuration(value) ?? fallback);
}

function canonicalCidr(c: string): string {
  return parseCidr(c)?.canonical ?? c;
}

/**
 * VRRP priority of the node at `index` of `count` nodes when the spec gives none: 200 - 10 x
 * position up to 20 nodes (the first node highest), and steps of floor(199 / (count - 1)) above,
 * so every allowed node count gets distinct priorities in 1..200.
 */
export function derivedPriority(index: number, count: number): number {
  return 200 - derivedPriorityStep(count) * index;
}

function derivedPriorityStep(count: number): number {
  return count <= 20 ? 10 : Math.max(1, Math.floor(199 / (count - 1)));
}

/** The rule of {@link derivedPriority} for `count` nodes, for messages: `200 - 10 x position`. */
export function derivedPriorityRule(count: number): string {
  return `200 - ${derivedPriorityStep(count)} x position`;
}

/** The virtual router id derived from a cluster name: crc32(name) mod 255 + 1. */
export function derivedVirtualRouterId(clusterName: string): number {
  return (crc32(clusterName) % 255) + 1;
}

function normalizeCloud(input: ClusterInput['cloud']): Cloud {
  const c = input ?? {};
  const rt = c.routeTables ?? { discover: 'all' as const };
  const routeTables: RouteTableSelector =
    rt.ids !== undefined ? { kind: 'ids', ids: rt.ids }
    : rt.tags !== undefined ? { kind: 'tags', tags: rt.tags, exclude: rt.exclude ?? [] }
    : { kind: 'all', exclude: rt.exclude ?? [] };
  return {
    provider: c.provider ?? 'none',
    ...(c.region === undefined ? {} : { region: c.region }),
    ...(c.vpcId === undefined ? {} : { vpcId: c.vpcId }),
    ...(c.endpoint === undefined ? {} : { endpoint: c.endpoint }),
    routeTables,
    failover: c.failover ?? 'route',
    ...(c.eipAllocationId === undefined ? {} : { eipAllocationId: c.eipAllocationId }),
    recheckIntervalMs: ms(c.recheckInterval, 10_000),
  };
}

export function normalizeCluster(input: ClusterInput): Cluster {
  const vrid = input.vrrp?.virtualRouterId ?? derivedVirtualRouterId(input.name);
  return {
    name: input.name,
    vip: input.vip,
    vpcCidrs: (input.vpcCidrs ?? []).map(canonicalCidr),
    peerCidrs: (input.peerCidrs ?? []).map(canonicalCidr),
    nodes: input.nodes.map((n, i) => ({
      name: n.name,
      address: n.address,
      zone: n.zone,
      priority: n.priority ?? derivedPriority(i, input.nodes.length),
      interface: n.interface ?? 'eth0',
    })),
    vrrp: {
      virtualRouterId: vrid,
      advertIntervalMs: ms(input.vrrp?.advertInterval, 100),
      preempt: input.vrrp?.preempt ?? true,
      preemptDelayMs: ms(input.vrrp?.preemptDelay, 10_000),
      markerAddress: input.vrrp?.markerAddress ?? `169.254.240.${vrid}`,
    },
    cloud: normalizeCloud(input.cloud),
  };
}

export function normalizeAdmin(input: AdminInput | undefined): Admin {
  const a = input ?? {};
  const stats = a.stats ?? {};
  return {
    stats: {
      enabled: stats.enabled ?? true,
      bind: stats.bind ?? 'localhost',
      port: stats.port ?? 8404,
      ...(stats.auth === undefined ? {} : { auth: { user: stats.auth.user, passwordHash: stats.auth.passwordHash } }),
    },
    health: { bind: a.health?.bind ?? 'localhost', port: a.health?.port ?? 8405, path: a.health?.path ?? '/healthz' },
    runtimeSocket: a.runtimeSocket ?? `${DEFAULT_RUN_DIR}/haproxy.sock`,
    masterSocket: a.masterSocket ?? `${DEFAULT_RUN_DIR}/haproxy-master.sock`,
    stateDir: a.stateDir ?? DEFAULT_RUN_DIR,
    agent: { bind: a.agent?.bind ?? 'localhost', port: a.agent?.port ?? 8406 },
    ...(a.accessLog === undefined ? {} : { accessLog: normalizeAccessLogTarget(a.accessLog) }),
  };
}

/** `admin.accessLog` with its defaults: syslog on /dev/log, facility local0; files of 100 MiB, 5 kept. */
function normalizeAccessLogTarget(input: NonNullable<AdminInput['accessLog']>): AccessLogTarget {
  if (input.to === 'syslog') return { to: 'syslog', socket: input.socket ?? DEFAULT_ACCESS_LOG.socket, facility: input.facility ?? DEFAULT_ACCESS_LOG.facility };
  return { to: 'file', ...(input.path === undefined ? {} : { path: input.path }), maxBytes: (input.maxSizeMiB ?? 100) * 1024 * 1024, keep: input.keep ?? 5 };
}

type NamedMatch = Extract<Condition, { kind: 'header' }>['match'];

function namedMatch(c: ConditionInput): NamedMatch {
  if (c.exact !== undefined) return { type: 'exact', value: c.exact };
  if (c.prefix !== undefined) return { type: 'prefix', value: c.prefix };
  if (c.regex !== undefined) return { type: 'regex', value: c.regex };
  if (c.absent !== undefined) return { type: 'absent' };
  return { type: 'present' };
}

function normalizeCondition(c: ConditionInput): Condition {
  if (c.header !== undefined) return { kind: 'header', name: c.header.toLowerCase(), match: namedMatch(c) };
  // Query keys and cookie names are case-sensitive (url_param, req.cook): kept as written.
  if (c.query !== undefined) return { kind: 'query', name: c.query, match: namedMatch(c) };
  if (c.cookie !== undefined) return { kind: 'cookie', name: c.cookie, match: namedMatch(c) };
  if (c.host !== undefined) {
    const h = c.host;
    if (typeof h === 'string') return { kind: 'host', match: { type: 'exact', value: h.toLowerCase() } };
    return h.suffix !== undefined ? { kind: 'host', match: { type: 'suffix', value: h.suffix.toLowerCase() } } : { kind: 'host', match: { type: 'exact', value: (h.exact ?? '').toLowerCase() } };
  }
  if (c.path !== undefined) {
    const p = c.path;
    if (p.exact !== undefined) return { kind: 'path', match: { type: 'exact', value: p.exact } };
    if (p.prefix !== undefined) return { kind: 'path', match: { type: 'prefix', value: p.prefix } };
    return { kind: 'path', match: { type: 'regex', value: p.regex ?? '' } };
  }
  if (c.method !== undefined) return { kind: 'method', methods: typeof c.method === 'string' ? [c.method] : c.method };
  const src = c.source ?? [];
  return { kind: 'source', cidrs: (typeof src === 'string' ? [src] : src).map(canonicalCidr) };
}

export function normalizeRoute(input: RouteInput, index: number): Route {
  let action: RouteAction;
  if (input.split !== undefined) {
    const st = input.sticky;
    action = {
      kind: 'split',
      sides: input.split.map((s) => ({ backend: s.backend, weight: s.weight })),
      ...(st === undefined ? {} : { sticky: st.header !== undefined ? { kind: 'header' as const, name: st.header.toLowerCase() } : { kind: 'cookie' as const, name: st.cookie ?? '' } }),
      ...(input.stickyCookie === undefined ? {} : { stickyCookie: normalizeStickyCookie(input.stickyCookie) }),
    };
  } else if (input.switch !== undefined) action = { kind: 'switch', switch: input.switch };
  else if (input.redirect !== undefined) action = { kind: 'redirect', redirect: normalizeRedirect(input.redirect) };
  else if (input.respond !== undefined) action = { kind: 'respond', respond: normalizeRespond(input.respond) };
  else action = { kind: 'backend', backend: input.backend ?? '' };
  return {
    name: input.name ?? `route-${index + 1}`,
    conditions: (input.when ?? []).map(normalizeCondition),
    action,
    ...(input.requestHeaders === undefined ? {} : { requestHeaders: normalizeRewrite(input.requestHeaders) }),
    ...(input.responseHeaders === undefined ? {} : { responseHeaders: normalizeRewrite(input.responseHeaders) }),
    ...(input.timeout === undefined ? {} : { timeoutMs: ms(input.timeout, 0) }),
  };
}

function normalizeRedirect(r: NonNullable<RouteInput['redirect']>): Redirect {
  // `redirect: https`: the one-line http -> https redirect, permanent.
  if (r === 'https') return { scheme: 'https', status: 301 };
  return {
    ...(r.scheme === undefined ? {} : { scheme: r.scheme }),
    ...(r.host === undefined ? {} : { host: r.host.toLowerCase() }),
    ...(r.port === undefined ? {} : { port: r.port }),
    ...(r.path === undefined ? {} : { path: r.path }),
    ...(r.query === undefined ? {} : { query: r.query }),
    status: (r.status ?? 302) as Redirect['status'],
  };
}

function normalizeRespond(r: NonNullable<RouteInput['respond']>): FixedResponse {
  const body = r.body !== undefined ? { kind: 'text' as const, text: r.body } : r.bodyFile !== undefined ? { kind: 'file' as const, path: r.bodyFile } : undefined;
  const contentType = r.contentType ?? (body === undefined ? undefined : 'text/plain');
  return { status: r.status, ...(contentType === undefined ? {} : { contentType }), ...(body === undefined ? {} : { body }) };
}

function normalizeRewrite(h: NonNullable<RouteInput['requestHeaders']>): HeaderRewrite {
  // Header names are case-insensitive: stored lower-case, as for conditions.
  const pairs = (rec: Record<string, string> | undefined) => Object.entries(rec ?? {}).map(([name, value]) => ({ name: name.toLowerCase(), value }));
  return { remove: (h.remove ?? []).map((n) => n.toLowerCase()), set: pairs(h.set), add: pairs(h.add) };
}

function normalizeAccessLog(v: FrontendInput['accessLog']): AccessLog {
  if (v === false) return { enabled: false };
  if (v === undefined || v === true || v === 'default') return { enabled: true, format: 'default' };
  if (v === 'json') return { enabled: true, format: 'json' };
  return { enabled: true, format: 'custom', custom: v.custom };
}

type TlsInput = NonNullable<FrontendInput['binds'][number]['tls']>;

/** TLS defaults: TLS 1.2 minimum, h2 + http/1.1 in http mode, verify required, x-client-* headers. */
function normalizeTls(t: TlsInput, mode: 'http' | 'tcp'): Tls {
  const cc = t.clientCertificate;
  return {
    certificates: t.certificates ?? [],
    ...(t.defaultCertificate === undefined ? {} : { sni: { defaultCertificate: t.defaultCertificate, entries: (t.sni ?? []).map((e) => ({ names: e.names, certificate: e.certificate })) } }),
    minVersion: t.minVersion ?? 'TLSv1.2',
    ...(t.ciphers === undefined ? {} : { ciphers: t.ciphers }),
    ...(t.ciphersuites === undefined ? {} : { ciphersuites: t.ciphersuites }),
    alpn: t.alpn ?? (mode === 'http' ? ['h2', 'http/1.1'] : []),
    ...(cc === undefined
      ? {}
      : {
          clientCertificate: {
            ca: cc.ca,
            verify: cc.verify ?? 'required',
            subjectHeader: (cc.subjectHeader ?? 'x-client-subject').toLowerCase(),
            verifiedHeader: (cc.verifiedHeader ?? 'x-client-verified').toLowerCase(),
          },
        }),
  };
}

export function normalizeFrontend(input: FrontendInput): Frontend {
  const mode = input.mode ?? 'http';
  return {
    name: input.name,
    mode,
    binds: input.binds.map((b) => ({
      address: b.address,
      port: b.port,
      ...(b.tls === undefined
        ? {}
        : { tls: normalizeTls(b.tls, mode) }),
    })),
    ...(input.maxconn === undefined ? {} : { maxconn: input.maxconn }),
    timeouts: {
      clientMs: ms(input.timeouts?.client, 30_000),
      httpRequestMs: ms(input.timeouts?.httpRequest, 10_000),
      httpKeepAliveMs: ms(input.timeouts?.httpKeepAlive, 5_000),
    },
    accessLog: normalizeAccessLog(input.accessLog),
    forwardedFor: input.forwardedFor ?? mode === 'http',
    ...(input.requestId === undefined ? {} : { requestId: { header: input.requestId.header.toLowerCase() } }),
    defaultBackend: input.defaultBackend,
    routes: (input.routes ?? []).map(normalizeRoute),
  };
}

function parseStatus(v: number | string): readonly [number, number] {
  if (typeof v === 'number') return [v, v];
  const [lo, hi] = v.split('-').map(Number);
  return [lo ?? 200, hi ?? 399];
}

function normalizeHealthCheck(input: BackendInput['healthCheck']): HealthCheck {
  const timing = { intervalMs: ms(input?.interval, 2000), rise: input?.rise ?? 2, fall: input?.fall ?? 3 };
  if (input === undefined || input.type === 'tcp') return { type: 'tcp', ...timing };
  if (input.type === 'none') return { type: 'none' };
  const es = input.expectStatus;
  return {
    type: 'http',
    path: input.path ?? '/',
    expectStatus: es === undefined ? [[200, 399]] : Array.isArray(es) ? es.map(parseStatus) : [parseStatus(es)],
    ...(input.host === undefined ? {} : { host: input.host.toLowerCase() }),
    ...timing,
  };
}

/** A backend's `drainTime` when the spec gives none (docs/spec.md: why 30 s). */
export const DEFAULT_DRAIN_MS = 30_000;

export function normalizeBackend(input: BackendInput): Backend {
  const b = input.balance;
  const balance: BalanceAlgorithm = b === undefined ? { kind: 'roundrobin' } : typeof b === 'string' ? { kind: b } : { kind: 'header', name: b.header.toLowerCase() };
  return {
    name: input.name,
    mode: input.mode ?? 'http',
    balance,
    servers: (input.servers ?? []).map((s) => ({ name: s.name, address: s.address, port: s.port, weight: s.weight ?? 100, backup: s.backup ?? false })),
    ...(input.discovery === undefined ? {} : { discovery: { source: input.discovery.source } }),
    spareSlots: input.spareSlots ?? (input.discovery === undefined ? 0 : 32),
    healthCheck: normalizeHealthCheck(input.healthCheck),
    retries: input.retries ?? 3,
    redispatch: input.redispatch ?? true,
    ...(input.serverMaxconn === undefined ? {} : { serverMaxconn: input.serverMaxconn }),
    timeouts: { connectMs: ms(input.timeouts?.connect, 5000), serverMs: ms(input.timeouts?.server, 30_000), queueMs: ms(input.timeouts?.queue, 10_000) },
    // 30 s, not the ALB's 300 s: the same bound a request in flight gets at a reload
    // (hard-stop-after) and the default server timeout; docs/spec.md says why.
    drainMs: ms(input.drainTime, DEFAULT_DRAIN_MS),
    slowStartMs: ms(input.slowStart, 0),
    ...(input.stickyCookie === undefined ? {} : { stickyCookie: normalizeStickyCookie(input.stickyCookie) }),
  };
}

/** Defaults of a stickiness cookie: HttpOnly (the load balancer's cookie is no script's business), not Secure. */
function normalizeStickyCookie(input: NonNullable<BackendInput['stickyCookie']>): StickyCookie {
  return {
    name: input.name,
    ...(input.duration === undefined ? {} : { durationMs: ms(input.duration, 0) }),
    secure: input.secure ?? false,
    httpOnly: input.httpOnly ?? true,
    ...(input.sameSite === undefined ? {} : { sameSite: input.sameSite }),
  };
}

export function normalizeSwitch(input: SwitchInput): Switch {
  return { name: input.name, sides: Object.entries(input.sides).map(([name, backend]) => ({ name, backend })), active: input.active };
}

export function normalizeSource(input: DiscoverySourceInput): DiscoverySource {
  switch (input.type) {
    case 'file':
      return { name: input.name, type: 'file', path: input.path };
    case 'dns':
      return { name: input.name, type: 'dns', query: input.query, recordType: input.recordType ?? 'A', ...(input.port === undefined ? {} : { port: input.port }) };
    case 'etcd':
      return { name: input.name, type: 'etcd', endpoints: input.endpoints, prefix: input.prefix };
    case 'consul':
      return { name: input.name, type: 'consul', address: input.address, service: input.service, ...(input.tag === undefined ? {} : { tag: input.tag }) };
    case 'ec2-tags':
      return { name: input.name, type: 'ec2-tags', tags: input.tags, port: input.port };
  }
}

/** The provisioning section with its defaults (instance type, prefix from the cluster name). */
export function normalizeProvision(input: ProvisionInput, clusterName: string): Provision {
  return {
    imageId: input.imageId,
    instanceType: input.instanceType ?? 't3.small',
    subnets: { ...(input.subnets ?? {}) },
    clients: Object.entries(input.clients).map(([frontend, cidrs]) => ({ frontend, cidrs: cidrs.map(canonicalCidr) })),
    adminClients: (input.adminClients ?? []).map(canonicalCidr),
    bucket: input.bucket,
    prefix: input.prefix ?? `${clusterName}/`,
  };
}
