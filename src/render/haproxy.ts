/**
 * The HAProxy compiler: validated model -> haproxy.cfg text and map files. Pure and
 * deterministic: the same spec, node, hash and map directory give the same bytes.
 *
 * Routing (first match wins, see src/model/spec.ts) compiles to one transaction variable,
 * `txn.olb_be`: every route becomes `set-var(txn.olb_be) <backend expr> if !{ var(txn.olb_be) -m found } <conditions>`,
 * so the first route that matches sets it and later ones are skipped; a single
 * `use_backend %[var(txn.olb_be)]` then dispatches. Runs of same-shaped routes become one map
 * lookup (src/render/maps.ts).
 */
import type { AccessLog, AccessLogTarget, AdminBind, Backend, Bind, Condition, Frontend, HealthCheck, Route, RouteAction, Spec, StringMatch } from '../model/spec.js';
import { DEFAULT_ACCESS_LOG } from '../model/spec.js';
import { findNode } from '../speclang/nodes.js';
import { SystemError } from '../util/errors.js';
import { assertCidr, describeShape, planRoutes, splitEntries, type MapEntry, type MapShape } from './maps.js';
import { assertMapKey, assertName, assertPath, assertToken, quoteValue } from './quote.js';
import { adminHost } from './admin-host.js';
import { clientCertificateLines, renderTlsBind } from './tls.js';
import { l7Var, l7VarLines, l7Vars, type L7Vars } from './l7-vars.js';
import { TXN_STICKY_SET, backendCookieLine, setCookieValue, stickyMapName } from './sticky-cookie.js';
import { TXN_ROUTE, backendTimeoutLines, hasMarked, headerVariableLines, isMarked, markedActionLines, markedGuard } from './l7-actions.js';
import { SPARE_PREFIX, EMPTY_SLOT, serializeHaproxyConfig, type ConfigLine, type HaproxyConfig, type MapFile, type MapFileEntry, type SectionKind, type ServerLine, type TypedSection } from './haproxy-config.js';

/**
 * Who HAProxy's workers run as: the user, group and empty chroot directory that Debian's haproxy
 * package creates (`/var/lib/haproxy`), so a compromised worker holds no root and sees no files.
 */
export const HAPROXY_WORKER_USER = { user: 'haproxy', group: 'haproxy', chroot: '/var/lib/haproxy' } as const;

/** Options of {@link renderHaproxy}. */
export interface RenderHaproxyOptions {
  /** The node this config is for (its address is used by `node` binds). */
  readonly node: string;
  /** sha256 of the spec, written in the header so a running config can be traced to its spec. */
  readonly specHash: string;
  /** Absolute directory where the map files will live; the config references `${mapDir}/${name}`. */
  readonly mapDir: string;
}

/** One file to write into `mapDir`: a map, or the crt-list of a TLS bind (`*.crt-list`, see ./tls.ts). */
export interface RenderedMap {
  /** File name inside `mapDir`, for example `web.run-2.map`. */
  readonly name: string;
  readonly content: string;
}

export interface RenderedHaproxy {
  readonly config: string;
  readonly maps: readonly RenderedMap[];
}

/** The map holding `switch-name backend` lines; flipped at run time with `set map`. */
export const SWITCHES_MAP = 'switches.map';
export { stickyMapName } from './sticky-cookie.js';

const TXN_BE = 'txn.olb_be';
const TXN_HOST = 'txn.olb_host';
const NOT_ROUTED = `!{ var(${TXN_BE}) -m found }`;
const STATS_FRONTEND = 'olb-stats';
const HEALTH_FRONTEND = 'olb-health';
const ADMIN_USERLIST = 'olb-admin';

// Mozilla "intermediate" TLS 1.2 ciphers and the TLS 1.3 suites OpenSSL enables by default.
const TLS12_CIPHERS = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';
const TLS13_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/** Split map file name of a route: `<frontend>.<route>.split.map`. */
export function splitMapName(frontend: string, route: string): string {
  return `${frontend}.${route}.split.map`;
}

/**
 * Map files the runtime updater may edit with `set map` / `add map` without a reload:
 * `switches.map` (when the spec has switches) and one map per split route. Run maps are derived
 * from the routes themselves; they change only with the spec (reload).
 */
export function runtimeMapNames(spec: Spec): string[] {
  const names = spec.switches.length > 0 ? [SWITCHES_MAP] : [];
  for (const fe of spec.frontends) {
    for (const r of fe.routes) if (r.action.kind === 'split') names.push(splitMapName(fe.name, r.name));
  }
  return names;
}

/** HAProxy time: whole seconds as `Ns`, otherwise `Nms`. */
function duration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new SystemError('INTERNAL', `duration ${ms} ms reached the HAProxy renderer; durations must be whole non-negative milliseconds`);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function integer(n: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new SystemError('INTERNAL', `${what} ${n} reached the HAProxy renderer; it must be a non-negative integer`);
  return String(n);
}

interface Ctx {
  readonly spec: Spec;
  readonly nodeAddress: string;
  readonly mapDir: string;
  readonly maps: MapFile[];
}

/**
 * Renders haproxy.cfg and its map files for one node: the text of {@link renderHaproxyConfig}.
 * @throws UserError SPEC_NODE when `options.node` is not a node of the cluster.
 * @throws SystemError INTERNAL when a value that the spec layer should have rejected reaches it.
 */
export function renderHaproxy(spec: Spec, options: RenderHaproxyOptions): RenderedHaproxy {
  const typed = renderHaproxyConfig(spec, options);
  return { config: serializeHaproxyConfig(typed), maps: typed.maps.map((m) => ({ name: m.name, content: m.content })) };
}

/**
 * One section from the renderer's indented line fragments (`  timeout server 30s`, `  # route x`):
 * the helpers of this folder build lines as text; servers are added as data by the caller.
 */
function section(kind: SectionKind, name: string | undefined, fragments: readonly string[], servers: readonly ServerLine[] = [], after: readonly string[] = []): TypedSection {
  const lines: ConfigLine[] = [...fragments.map(fragment), ...servers, ...after.map(fragment)];
  return name === undefined ? { kind, lines } : { kind, name, lines };
}

function fragment(line: string): ConfigLine {
  if (line.startsWith('  # ')) return { kind: 'comment', text: line.slice(4) };
  if (!line.startsWith('  ') || line.length < 3 || /\s/.test(line.charAt(2)) || line.includes('\n')) {
    throw new SystemError('INTERNAL', `the HAProxy renderer built the line ${JSON.stringify(line)}; section lines are indented by two spaces, one line each`);
  }
  return { kind: 'directive', text: line.slice(2) };
}

/**
 * Renders the typed config of one node (src/render/haproxy-config.ts): sections with their
 * directives, server lines (spare slots included) as data, and the map files it refers to.
 * @throws as {@link renderHaproxy}.
 */
export function renderHaproxyConfig(spec: Spec, options: RenderHaproxyOptions): HaproxyConfig {
  const node = findNode(spec.cluster, options.node);
  if (!/^\/[A-Za-z0-9._/-]*$/.test(options.mapDir)) {
    throw new SystemError('INTERNAL', `map directory ${JSON.stringify(options.mapDir)} must be an absolute path of letters, digits, '.', '_', '-' and '/'`);
  }
  const mapDir = options.mapDir.replace(/\/+$/, '');
  const ctx: Ctx = { spec, nodeAddress: assertToken(node.address, 'node address'), mapDir, maps: [] };

  const preamble = [
    'Generated by overlay-lb. Do not edit: changes are overwritten.',
    `spec sha256:${assertToken(options.specHash, 'spec hash')} cluster ${assertName(spec.cluster.name, 'cluster name')} node ${assertName(node.name, 'node name')}`,
  ];
  const sections: TypedSection[] = [section('global', undefined, renderGlobal(spec)), section('defaults', undefined, renderDefaults())];
  sections.push(...renderAdmin(ctx));
  for (const fe of spec.frontends) sections.push(section('frontend', assertName(fe.name, 'frontend name'), renderFrontend(ctx, fe)));
  for (const be of spec.backends) {
    const { fragments, servers } = renderBackend(be);
    sections.push(section('backend', assertName(be.name, 'backend name'), fragments, servers, backendTimeoutLines(spec, be)));
  }

  if (spec.switches.length > 0) {
    const lines = spec.switches.map((s) => {
      const side = s.sides.find((x) => x.name === s.active);
      if (side === undefined) throw new SystemError('INTERNAL', `switch ${s.name} has no side ${JSON.stringify(s.active)}; the spec layer should have rejected it`);
      return { key: assertName(s.name, 'switch name'), value: assertName(side.backend, 'backend name') };
    });
    ctx.maps.push({ name: SWITCHES_MAP, ...mapFile('switch name -> backend of its active side (flip with: set map <dir>/switches.map <switch> <backend>)', lines), role: 'switches', match: 'exact', subject: 'switches' });
  }
  const maps = [...ctx.maps].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { preamble, sections, mapDir, maps };
}

/** A map file's entries as data and its text: a comment line, then `key value` lines. */
function mapFile(comment: string, entries: readonly MapFileEntry[]): { content: string; entries: readonly MapFileEntry[] } {
  return { content: `# Generated by overlay-lb: ${comment}\n${entries.map((e) => `${e.key} ${e.value}\n`).join('')}`, entries };
}

/**
 * HAProxy's `hard-stop-after`: how long an old worker may finish its requests after a reload.
 * 30 s (the default drain, `timeouts.server` and common termination grace periods: docs/spec.md),
 * or a backend's longer `drainTime`: the requests of a draining server stay with the worker that
 * started them, so a reload during a drain would otherwise cut them at 30 s, before the drain
 * time the spec promises them (docs/runtime-changes.md).
 */
export function hardStopAfterSeconds(spec: Pick<Spec, 'backends'>): number {
  const longestDrainMs = Math.max(0, ...spec.backends.map((b) => b.drainMs));
  return Math.max(30, Math.ceil(longestDrainMs / 1000));
}

function renderGlobal(spec: Spec): string[] {
  const admin = spec.admin;
  return [
    '  master-worker',
    // Least privilege: the master (root, started by the agent) binds the listeners and sockets;
    // its workers, which parse traffic, run as Debian's haproxy user, chrooted into its empty
    // directory (as Debian's own haproxy.cfg does). Their log target resolves inside it.
    `  user ${HAPROXY_WORKER_USER.user}`,
    `  group ${HAPROXY_WORKER_USER.group}`,
    `  chroot ${HAPROXY_WORKER_USER.chroot}`,
    '  # The master CLI cannot be declared here; the agent starts haproxy as:',
    `  #   haproxy -W -S ${assertPath(admin.masterSocket, 'master socket')},mode,600 -f <this file>`,
    `  stats socket ${assertPath(admin.runtimeSocket, 'runtime socket')} mode 600 level admin expose-fd listeners`,
    '  stats timeout 30s',
    globalLogLine(admin.accessLog ?? DEFAULT_ACCESS_LOG),
    // No global maxconn: HAProxy derives it from the file-descriptor limit the agent (or systemd's
    // LimitNOFILE) gives it. A fixed value above what the limit allows makes haproxy refuse to
    // start ("Cannot raise FD limit"), which `haproxy -c` does not detect.
    `  hard-stop-after ${hardStopAfterSeconds(spec)}s`,
    '  ssl-default-bind-options ssl-min-ver TLSv1.2',
    `  ssl-default-bind-ciphers ${TLS12_CIPHERS}`,
    `  ssl-default-bind-ciphersuites ${TLS13_SUITES}`,
  ];
}

/**
 * Where HAProxy logs (`admin.accessLog`). HAProxy never blocks on its log: a line that finds the
 * pipe or socket queue full is dropped and counted in `DroppedLogs` (the agent exports it).
 * - `syslog`: datagrams to a Unix socket, a path inside the workers' chroot (`/dev/log` there is
 *   `/var/lib/haproxy/dev/log`, where the packaged unit binds journald's socket); lines up to 8 kB
 *   (HAProxy's default cuts at 1 kB). Never a network address: the socket passes the admin
 *   sockets' check (no `family@` prefix, no `,` list).
 * - `file`: stdout, a pipe the agent drains into rotated files; lines up to 4 kB, PIPE_BUF, so each
 *   line is one atomic write: two workers (during a reload) never interleave, and a full pipe
 *   takes a whole line or none, never half of one.
 */
function globalLogLine(target: AccessLogTarget): string {
  if (target.to === 'file') return '  log stdout len 4096 format raw local0';
  return `  log ${assertPath(target.socket, 'access log socket')} len 8192 format rfc3164 ${assertToken(target.facility, 'syslog facility')}`;
}

function renderDefaults(): string[] {
  // Only what is valid in both modes: mode-specific options go in each proxy, so TCP proxies
  // inherit nothing HTTP-only (HAProxy warns about those).
  return [
    '  mode http',
    '  log global',
    '  option dontlognull',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-request 10s',
    '  timeout queue 30s',
  ];
}

function adminAddress(ctx: Ctx, bind: AdminBind): string {
  return assertToken(adminHost(bind, { address: ctx.nodeAddress }, ctx.spec.cluster.vip), 'admin address');
}

function renderAdmin(ctx: Ctx): TypedSection[] {
  const { admin } = ctx.spec;
  const out: TypedSection[] = [];
  for (const fe of ctx.spec.frontends) {
    if (fe.name === STATS_FRONTEND || fe.name === HEALTH_FRONTEND) throw new SystemError('INTERNAL', `frontend name ${fe.name} is reserved by overlay-lb`);
  }
  if (admin.stats.enabled) {
    const auth = admin.stats.auth;
    if (auth !== undefined) {
      out.push(section('userlist', ADMIN_USERLIST, [`  user ${assertName(auth.user, 'admin user')} password ${quoteValue(auth.passwordHash, 'admin password hash')}`]));
    }
    out.push(section('frontend', STATS_FRONTEND, [
      '  mode http',
      `  bind ${adminAddress(ctx, admin.stats.bind)}:${integer(admin.stats.port, 'stats port')}`,
      '  no log',
      // Auth first, so it also protects /metrics (Prometheus supports basic_auth).
      ...(auth === undefined ? [] : [`  http-request auth realm overlay-lb unless { http_auth(${ADMIN_USERLIST}) }`]),
      '  http-request use-service prometheus-exporter if { path /metrics }',
      '  stats enable',
      '  stats uri /stats',
      '  stats refresh 10s',
    ]));
  }
  // keepalived tracks this URI: it fails while any frontend's default backend has no server
  // up, so a returning node does not win mastership before its backends are ready.
  const defaults = [...new Set(ctx.spec.frontends.map((f) => f.defaultBackend))];
  out.push(section('frontend', HEALTH_FRONTEND, [
    '  mode http',
    `  bind ${adminAddress(ctx, admin.health.bind)}:${integer(admin.health.port, 'health port')}`,
    '  no log',
    `  monitor-uri ${assertToken(admin.health.path, 'health path')}`,
    ...defaults.map((be) => `  monitor fail if { nbsrv(${assertName(be, 'backend name')}) lt 1 }`),
  ]));
  return out;
}

function bindLine(ctx: Ctx, fe: Frontend, bind: Bind, bindIndex: number): string {
  const addr = bind.address === 'vip' ? ctx.spec.cluster.vip : bind.address === 'node' ? ctx.nodeAddress : bind.address;
  let line = `  bind ${assertToken(addr, 'bind address')}:${integer(bind.port, 'bind port')}`;
  if (bind.tls !== undefined) {
    const tls = renderTlsBind({ frontend: fe.name, bindIndex, tls: bind.tls, mapDir: ctx.mapDir });
    line += tls.words;
    if (tls.crtList !== undefined) ctx.maps.push({ ...tls.crtList, role: 'crt-list', match: 'exact', subject: tls.crtList.name });
  }
  return line;
}

const JSON_HTTP_LOG =
  '{"time":"%tr","client":"%ci:%cp","frontend":"%ft","backend":"%b","server":"%s","method":"%HM","path":"%{+E}HP","status":%ST,"bytes":%B,"tr":%TR,"tw":%Tw,"tc":%Tc,"ts":%Tr,"ta":%Ta,"term":"%ts"';
const JSON_TCP_LOG = '{"time":"%t","client":"%ci:%cp","frontend":"%ft","backend":"%b","server":"%s","bytes":%B,"tw":%Tw,"tc":%Tc,"tt":%Tt,"term":"%ts"';

function accessLogLines(fe: Frontend, log: AccessLog): string[] {
  if (!log.enabled) return ['  no log'];
  if (log.format === 'default') return [fe.mode === 'http' ? '  option httplog' : '  option tcplog'];
  if (log.format === 'json') {
    const base = fe.mode === 'http' ? JSON_HTTP_LOG : JSON_TCP_LOG;
    const rid = fe.mode === 'http' && fe.requestId !== undefined ? ',"request_id":"%{+E}ID"' : '';
    return [`  log-format '${base}${rid}}'`];
  }
  if (log.format === 'custom') return [`  log-format ${quoteValue(log.custom, 'custom log format')}`];
  return [];
}

function renderFrontend(ctx: Ctx, fe: Frontend): string[] {
  const http = fe.mode === 'http';
  const lines = [`  mode ${http ? 'http' : 'tcp'}`];
  fe.binds.forEach((b, i) => lines.push(bindLine(ctx, fe, b, i)));
  if (fe.maxconn !== undefined) lines.push(`  maxconn ${integer(fe.maxconn, 'frontend maxconn')}`);
  lines.push(`  timeout client ${duration(fe.timeouts.clientMs)}`);
  if (http) {
    lines.push(`  timeout http-request ${duration(fe.timeouts.httpRequestMs)}`, `  timeout http-keep-alive ${duration(fe.timeouts.httpKeepAliveMs)}`);
    // Measured: without it keep-alive clients saw 28-142 errors per 20 reloads; with it 0.
    lines.push('  option idle-close-on-response');
  }
  lines.push(...accessLogLines(fe, fe.accessLog));
  if (http && fe.forwardedFor) lines.push('  option forwardfor');
  if (http && fe.requestId !== undefined) {
    const h = assertName(fe.requestId.header, 'request id header');
    lines.push("  unique-id-format '%{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid'");
    lines.push(`  http-request set-header ${h} %[unique-id] unless { req.hdr(${h}) -m found }`);
  }
  lines.push(...clientCertificateLines(fe));
  lines.push(...renderRoutes(ctx, fe));
  lines.push(`  default_backend ${assertName(fe.defaultBackend, 'backend name')}`);
  return lines;
}

function usesHost(fe: Frontend): boolean {
  return fe.routes.some((r) => r.conditions.some((c) => c.kind === 'host'));
}

function renderRoutes(ctx: Ctx, fe: Frontend): string[] {
  if (fe.routes.length === 0) return [];
  const http = fe.mode === 'http';
  const rule = http ? 'http-request' : 'tcp-request content';
  const lines: string[] = [];
  if (usesHost(fe)) {
    if (!http) throw new SystemError('INTERNAL', `frontend ${fe.name} is tcp but has a host condition; the spec layer should have rejected it`);
    // Host semantics (spec.ts, 3): last Host header, lower-cased, trailing :port removed.
    lines.push(`  http-request set-var(${TXN_HOST}) req.fhdr(host,-1),lower,regsub(:[0-9]+$,)`);
  }
  const vars = l7Vars(fe);
  if (!http && (vars.query.size > 0 || vars.cookie.size > 0)) throw new SystemError('INTERNAL', `frontend ${fe.name} is tcp but has query or cookie conditions; the spec layer should have rejected them`);
  lines.push(...l7VarLines(vars), ...headerVariableLines(fe));
  // With marked routes (l7-actions.ts) a route has matched when either variable is set.
  const notRouted = hasMarked(fe) ? `${NOT_ROUTED} !{ var(${TXN_ROUTE}) -m found }` : NOT_ROUTED;
  for (const item of planRoutes(fe)) {
    if (item.kind === 'inline') {
      lines.push(...routeLines(ctx, fe, vars, notRouted, item.route, item.index));
      continue;
    }
    const mapPath = `${ctx.mapDir}/${item.mapName}`;
    lines.push(`  # routes ${item.firstIndex + 1}-${item.lastIndex + 1} (${fe.routes[item.firstIndex]?.name ?? ''} .. ${fe.routes[item.lastIndex]?.name ?? ''}): ${item.entries.length} ${item.entries.length === 1 ? 'entry' : 'entries'} in ${item.mapName}`);
    lines.push(`  ${rule} set-var(${TXN_BE}) ${mapLookup(fe, vars, item.shape, mapPath)} if ${notRouted}`);
    ctx.maps.push({
      name: item.mapName,
      ...mapFile(`frontend ${fe.name}, routes ${item.firstIndex + 1}-${item.lastIndex + 1}, ${describeShape(item.shape)}`, item.entries.map(mapLine)),
      role: 'run',
      // Exact keys only for these shapes: the planner updates such a map key by key.
      match: item.shape.kind === 'header-exact' || item.shape.kind === 'host-exact' || item.shape.kind === 'path-exact' ? 'exact' : 'longest',
      subject: item.mapName,
    });
  }
  lines.push(...markedActionLines(fe));
  lines.push(`  use_backend %[var(${TXN_BE})] if { var(${TXN_BE}) -m found }`);
  fe.routes.forEach((r, i) => {
    if (r.action.kind !== 'split' || r.action.stickyCookie === undefined) return;
    // On responses from the backend only (HAProxy's own errors carry no cookie: the next request draws again).
    lines.push(`  http-response add-header Set-Cookie ${quoteValue(setCookieValue(r.action.stickyCookie, `%[var(${TXN_BE})]`), 'set-cookie')} if { var(${TXN_STICKY_SET}) -m int ${integer(i + 1, 'route index')} }`);
  });
  return lines;
}

function mapLine(e: MapEntry): MapFileEntry {
  return { key: assertMapKey(e.key, 'map key'), value: assertName(e.backend, 'backend name') };
}

function mapLookup(fe: Frontend, vars: L7Vars, shape: MapShape, mapPath: string): string {
  const needHttp = shape.kind !== 'source';
  if (needHttp && fe.mode !== 'http') throw new SystemError('INTERNAL', `frontend ${fe.name} is tcp but has ${shape.kind} routes; the spec layer should have rejected them`);
  switch (shape.kind) {
    case 'header-exact':
      return `req.fhdr(${assertName(shape.header, 'header name')},-1),map_str(${mapPath})`;
    case 'header-prefix':
      return `req.fhdr(${assertName(shape.header, 'header name')},-1),map_beg(${mapPath})`;
    case 'host-exact':
      return `var(${TXN_HOST}),map_str(${mapPath})`;
    case 'path-exact':
      return `path,map_str(${mapPath})`;
    case 'path-prefix':
      return `path,map_beg(${mapPath})`;
    case 'source':
      return `src,map_ip(${mapPath})`;
    case 'query-exact':
      return `var(${l7Var(vars, 'query', shape.name)}),map_str(${mapPath})`;
    case 'query-prefix':
      return `var(${l7Var(vars, 'query', shape.name)}),map_beg(${mapPath})`;
    case 'cookie-exact':
      return `var(${l7Var(vars, 'cookie', shape.name)}),map_str(${mapPath})`;
    case 'cookie-prefix':
      return `var(${l7Var(vars, 'cookie', shape.name)}),map_beg(${mapPath})`;
  }
}

/**
 * One condition as an ACL: `negate`, the fetch and its flags (`head`) and the patterns
 * (`values`, each one word, quoted where needed). Rendered either anonymously,
 * `{ <head> <values> }`, or as a named `acl` (see {@link routeLines}).
 */
interface Acl {
  readonly negate: boolean;
  readonly head: readonly string[];
  readonly values: readonly string[];
  /**
   * False when a pattern cannot sit inside `{ ... }`: HAProxy ends an anonymous ACL at the first
   * word that reads `}` after unquoting, so a header value "}" must go in a named ACL.
   */
  readonly anonymous: boolean;
}

function stringAcl(fetch: string, m: StringMatch, what: string): Acl {
  // An empty pattern is dropped by HAProxy's word splitter ('' is no word), leaving an ACL that
  // never matches: exact "" is an empty value (length 0), prefix "" and regex "" any value.
  if (m.value === '') return { negate: false, head: m.type === 'exact' ? [fetch, '-m', 'len', '0'] : [fetch, '-m', 'found'], values: [], anonymous: true };
  const flag = m.type === 'exact' ? 'str' : m.type === 'prefix' ? 'beg' : 'reg';
  // `--` ends flag parsing, so a value such as "-i" stays a value.
  return { negate: false, head: [fetch, '-m', flag, '--'], values: [quoteValue(m.value, what)], anonymous: m.value !== '}' };
}

function conditionAcl(fe: Frontend, vars: L7Vars, c: Condition): Acl {
  if (c.kind !== 'source' && fe.mode !== 'http') {
    throw new SystemError('INTERNAL', `frontend ${fe.name} is tcp but has a ${c.kind} condition; the spec layer should have rejected it`);
  }
  switch (c.kind) {
    case 'header': {
      const fetch = `req.fhdr(${assertName(c.name, 'header name')},-1)`;
      // `-m found` on the last occurrence is true even for an empty value (checked with 2.6.12).
      if (c.match.type === 'present') return { negate: false, head: [fetch, '-m', 'found'], values: [], anonymous: true };
      if (c.match.type === 'absent') return { negate: true, head: [fetch, '-m', 'found'], values: [], anonymous: true };
      return stringAcl(fetch, c.match, 'header value');
    }
    case 'host':
      return { negate: false, head: [`var(${TXN_HOST})`, '-m', c.match.type === 'exact' ? 'str' : 'end', '--'], values: [quoteValue(c.match.value, 'host')], anonymous: true };
    case 'path':
      return stringAcl('path', c.match, 'path');
    case 'method':
      return { negate: false, head: ['method'], values: c.methods.map((m) => assertName(m, 'method')), anonymous: true };
    case 'source':
      return { negate: false, head: ['src', '-m', 'ip'], values: c.cidrs.map(assertCidr), anonymous: true };
    case 'query':
    case 'cookie': {
      // The variable holds the occurrence the semantics name (see l7-vars.ts); unset = absent.
      const fetch = `var(${l7Var(vars, c.kind, c.name)})`;
      if (c.match.type === 'present') return { negate: false, head: [fetch, '-m', 'found'], values: [], anonymous: true };
      if (c.match.type === 'absent') return { negate: true, head: [fetch, '-m', 'found'], values: [], anonymous: true };
      return stringAcl(fetch, c.match, `${c.kind} value`);
    }
  }
}

function anonymousAcl(acl: Acl): string {
  return `${acl.negate ? '!' : ''}{ ${[...acl.head, ...acl.values].join(' ')} }`;
}

/** HAProxy splits a configuration line into at most 64 words (MAX_LINE_ARGS) and refuses more. */
const MAX_WORDS = 64;
/** Patterns per `acl` line: lines of one name are ORed, so a long list spans several lines. */
const PATTERNS_PER_ACL_LINE = 48;

function words(line: string): number {
  // Quoted values never contain a quote (quoteValue), so a quoted word is one word.
  return (line.trim().match(/'[^']*'|\S+/g) ?? []).length;
}

function routeLines(ctx: Ctx, fe: Frontend, vars: L7Vars, notRouted: string, route: Route, index: number): string[] {
  const rule = fe.mode === 'http' ? 'http-request' : 'tcp-request content';
  const acls = route.conditions.map((c) => conditionAcl(fe, vars, c));
  const head = `  # route ${route.name}`;
  const action: RouteAction = route.action;
  const guardOf = (conds: readonly string[]): string => [notRouted, ...conds].join(' ');
  // A marked route (l7-actions.ts) records that it matched; its action lines test that record.
  const emit = (guard: string): string[] =>
    isMarked(route)
      ? // NOT_ROUTED stays in the action's guard: a split's sticky line sets the backend and its random line must then not run.
        [`  ${rule} set-var(${TXN_ROUTE}) int(${index + 1}) if ${guard}`, ...routeRules(ctx, fe, rule, route, index, action, `${markedGuard(index)} ${NOT_ROUTED}`)]
      : routeRules(ctx, fe, rule, route, index, action, guard);
  let lines = emit(guardOf(acls.map(anonymousAcl)));
  if (acls.every((a) => a.anonymous) && lines.every((l) => words(l) <= MAX_WORDS)) return [head, ...lines];
  // Too many words for one line, or a pattern that cannot be anonymous: named ACLs, one word
  // each in the rule, their patterns spread over as many `acl` lines as needed.
  const named: string[] = [];
  const refs = acls.map((acl, k) => {
    const name = `olb-r${index + 1}-c${k + 1}`;
    const chunks = acl.values.length === 0 ? [[]] : Array.from({ length: Math.ceil(acl.values.length / PATTERNS_PER_ACL_LINE) }, (_, n) => acl.values.slice(n * PATTERNS_PER_ACL_LINE, (n + 1) * PATTERNS_PER_ACL_LINE));
    for (const chunk of chunks) named.push(`  acl ${name} ${[...acl.head, ...chunk].join(' ')}`);
    return `${acl.negate ? '!' : ''}${name}`;
  });
  lines = emit(guardOf(refs));
  for (const l of [...named, ...lines]) {
    if (words(l) > MAX_WORDS) throw new SystemError('INTERNAL', `route ${route.name} of frontend ${fe.name} renders a line of ${words(l)} words; HAProxy reads at most ${MAX_WORDS} (the spec layer limits conditions per route)`);
  }
  return [head, ...named, ...lines];
}

function routeRules(ctx: Ctx, fe: Frontend, rule: string, route: Route, index: number, action: RouteAction, guard: string): string[] {
  switch (action.kind) {
    case 'redirect':
    case 'respond':
      // Answered after every route (l7-actions.ts markedActionLines).
      return [];
    case 'backend':
      return [`  ${rule} set-var(${TXN_BE}) str(${assertName(action.backend, 'backend name')}) if ${guard}`];
    case 'switch':
      return [`  ${rule} set-var(${TXN_BE}) str(${assertName(action.switch, 'switch name')}),map_str(${ctx.mapDir}/${SWITCHES_MAP}) if ${guard}`];
    case 'split': {
      const name = splitMapName(assertName(fe.name, 'frontend name'), assertName(route.name, 'route name'));
      const mapPath = `${ctx.mapDir}/${name}`;
      if (!ctx.maps.some((m) => m.name === name)) {
        ctx.maps.push({
          name,
          ...mapFile(`frontend ${fe.name}, route ${route.name}: bucket range [0,100) -> backend`, splitEntries(action.sides).map(mapLine)),
          role: 'split',
          match: 'range',
          subject: `${fe.name}/${route.name}`,
        });
      }
      const lines: string[] = [];
      if (action.stickyCookie !== undefined) {
        if (fe.mode !== 'http') throw new SystemError('INTERNAL', `frontend ${fe.name} is tcp but route ${route.name} has a stickyCookie; the spec layer should have rejected it`);
        const stickyName = stickyMapName(assertName(fe.name, 'frontend name'), assertName(route.name, 'route name'));
        const stickyPath = `${ctx.mapDir}/${stickyName}`;
        if (!ctx.maps.some((m) => m.name === stickyName)) {
          const valid = action.sides.filter((x) => x.weight > 0).map((x) => ({ key: assertName(x.backend, 'backend name'), value: x.backend }));
          ctx.maps.push({ name: stickyName, ...mapFile(`frontend ${fe.name}, route ${route.name}: value of cookie ${action.stickyCookie.name} -> backend (sides of weight > 0)`, valid), role: 'run', match: 'exact', subject: stickyName });
        }
        const key = `req.cook(${assertName(action.stickyCookie.name, 'sticky cookie')}),map_str(${stickyPath})`;
        // A cookie naming a side of weight > 0 keeps the client there; otherwise the split draws
        // a side below and marks the response to set the cookie to it (http-response, renderRoutes).
        lines.push(`  ${rule} set-var(${TXN_BE}) ${key} if ${guard} { ${key} -m found }`);
        lines.push(`  ${rule} set-var(${TXN_STICKY_SET}) int(${integer(index + 1, 'route index')}) if ${guard}`);
      }
      if (action.sticky !== undefined) {
        if (fe.mode !== 'http') throw new SystemError('INTERNAL', `frontend ${fe.name} is tcp but route ${route.name} has a sticky key; the spec layer should have rejected it`);
        const key =
          action.sticky.kind === 'header' ? `req.fhdr(${assertName(action.sticky.name, 'sticky header')},-1)` : `req.cook(${assertName(action.sticky.name, 'sticky cookie')})`;
        // crc32 without avalanche is zlib's CRC-32 of the bytes (checked against node:zlib).
        lines.push(`  ${rule} set-var(${TXN_BE}) ${key},crc32,mod(100),map_int(${mapPath}) if ${guard} { ${key} -m found }`);
      }
      lines.push(`  ${rule} set-var(${TXN_BE}) rand(100),map_int(${mapPath}) if ${guard}`);
      return lines;
    }
  }
}

function balanceLines(be: Backend): string[] {
  const b = be.balance;
  if ((b.kind === 'uri' || b.kind === 'header') && be.mode !== 'http') {
    throw new SystemError('INTERNAL', `backend ${be.name} is tcp but balances on ${b.kind}; the spec layer should have rejected it`);
  }
  switch (b.kind) {
    case 'roundrobin':
    case 'leastconn':
      return [`  balance ${b.kind}`];
    // Consistent hashing keeps most keys on their server when servers come and go at run time.
    case 'source':
    case 'uri':
      return [`  balance ${b.kind}`, '  hash-type consistent'];
    case 'header':
      return [`  balance hdr(${assertName(b.name, 'balance header')})`, '  hash-type consistent'];
  }
}

function statusList(ranges: readonly (readonly [number, number])[]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? integer(lo, 'status') : `${integer(lo, 'status')}-${integer(hi, 'status')}`)).join(',');
}

function healthLines(hc: HealthCheck): string[] {
  if (hc.type === 'none') return [];
  const lines: string[] = [];
  if (hc.type === 'http') {
    lines.push('  option httpchk');
    // HTTP/1.1 requires a Host header; "localhost" when the spec names none.
    lines.push(`  http-check send meth GET uri ${assertToken(hc.path, 'health check path')} ver HTTP/1.1 hdr Host ${assertToken(hc.host ?? 'localhost', 'health check host')}`);
    lines.push(`  http-check expect status ${statusList(hc.expectStatus)}`);
  }
  return lines;
}

function renderBackend(be: Backend): { fragments: string[]; servers: ServerLine[] } {
  const http = be.mode === 'http';
  const hc = be.healthCheck;
  const lines = [`  mode ${http ? 'http' : 'tcp'}`, ...balanceLines(be)];
  lines.push(`  timeout connect ${duration(be.timeouts.connectMs)}`, `  timeout server ${duration(be.timeouts.serverMs)}`, `  timeout queue ${duration(be.timeouts.queueMs)}`);
  lines.push(`  retries ${integer(be.retries, 'retries')}`, be.redispatch ? '  option redispatch' : '  no option redispatch');
  lines.push(...healthLines(hc));
  if (be.stickyCookie !== undefined) {
    if (!http) throw new SystemError('INTERNAL', `backend ${be.name} is tcp but has a stickyCookie; the spec layer should have rejected it`);
    lines.push(backendCookieLine(be.stickyCookie));
  }
  // With a stickiness cookie each server (and spare slot) is valued with its own name.
  const cookie = (server: string): { cookie?: string } => (be.stickyCookie === undefined ? {} : { cookie: server });
  const ds: string[] = [];
  if (hc.type !== 'none') ds.push(`inter ${duration(hc.intervalMs)} rise ${integer(hc.rise, 'rise')} fall ${integer(hc.fall, 'fall')}`);
  if (be.serverMaxconn !== undefined) ds.push(`maxconn ${integer(be.serverMaxconn, 'server maxconn')}`);
  // On default-server, so every server line gets it, spare slots included (a discovered server
  // ramps up when its slot leaves maintenance), and a change is structural (a reload).
  if (be.slowStartMs > 0) ds.push(`slowstart ${duration(be.slowStartMs)}`);
  if (ds.length > 0) lines.push(`  default-server ${ds.join(' ')}`);
  const check = hc.type !== 'none';
  const servers: ServerLine[] = [];
  const seen = new Set<string>();
  for (const s of be.servers) {
    const sname = assertName(s.name, 'server name');
    if (sname.startsWith(SPARE_PREFIX) || seen.has(sname)) throw new SystemError('INTERNAL', `server name ${sname} in backend ${be.name} is duplicated or reserved`);
    seen.add(sname);
    integer(s.port, 'server port');
    integer(s.weight, 'weight');
    servers.push({ kind: 'server', name: sname, address: assertToken(s.address, 'server address'), port: s.port, weight: s.weight, spare: false, backup: s.backup, disabled: false, check, ...cookie(sname) });
  }
  // Disabled placeholders the agent fills through the Runtime API (`set server <be>/<srv> addr
  // <ip> port <p>`, then `set server <be>/<srv> state ready`): scale-out without a reload.
  for (let n = 1; n <= be.spareSlots; n++) {
    const sname = `${SPARE_PREFIX}${n}`;
    servers.push({ kind: 'server', name: sname, ...EMPTY_SLOT, spare: true, backup: false, disabled: true, check, ...cookie(sname) });
  }
  return { fragments: lines, servers };
}
