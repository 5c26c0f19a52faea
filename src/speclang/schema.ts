/**
 * The structural schema of the spec's YAML (its input shape), in zod 4.
 *
 * One source for two things: validation (`parseSpec` maps zod issues to our codes and wording)
 * and the JSON Schema for editors (`buildJsonSchema`). The schema describes the input as written;
 * defaults, durations and derived values are applied by `normalize.ts`. Within-object rules
 * (exactly one action, auth unless localhost...) are refinements here; cross-object rules
 * (references, uniqueness, CIDRs) live in `semantic.ts`.
 */
import { z } from 'zod';
import type { ErrorCode } from '../util/errors.js';
import { SAFE_NAME_RE, HEADER_NAME_RE, quoteForMessage } from './names.js';
import {
  bindAddressCheck,
  cidrCheck,
  durationCheck,
  headerNameCheck,
  hostExactCheck,
  hostSuffixCheck,
  interfaceCheck,
  ipv4Check,
  logFormatCheck,
  matchValueCheck,
  methodCheck,
  nameCheck,
  passwordHashCheck,
  plainTextCheck,
  regexCheck,
  requestPathCheck,
  statusRangeCheck,
  tokenCheck,
  urlCheck,
  urlPathCheck,
  type DurationRule,
  type StringCheck,
} from './strings.js';
import { pathCheck } from './paths.js';
import { SNI_NAME_RE, sniNameCheck } from './tls-names.js';
import { TLS12_CIPHER_NAMES, TLS13_SUITE_NAMES } from './tls-ciphers.js';
import { bodyCheck, contentTypeCheck, cookieValueCheck, headerValueCheck, queryKeyCheck, queryValueCheck, redirectQueryCheck, rewriteHeaderNameCheck, stickyCookieNameCheck } from './l7-strings.js';
import { SYSLOG_FACILITIES } from '../model/spec.js';

/** Params carried by our custom zod issues. */
export interface IssueParams {
  readonly code: ErrorCode;
  /** Point at the key of the last path element rather than its value. */
  readonly at?: 'key';
}

function str(check: StringCheck, meta: { pattern?: string; description?: string } = {}) {
  return z
    .string()
    .check((ctx) => {
      const p = check(ctx.value);
      if (p !== undefined) ctx.issues.push({ code: 'custom', input: ctx.value, message: p.message, params: { code: p.code } satisfies IssueParams });
    })
    .meta(meta);
}

type RefineCtx = z.core.$RefinementCtx;

/** Adds one of our issues from a refinement. */
function report(ctx: RefineCtx, code: ErrorCode, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message, params: { code } satisfies IssueParams });
}

function int(min: number, max: number, description?: string) {
  const msg = `allowed ${min}..${max}`;
  const s = z.number().int().min(min, { message: msg }).max(max, { message: msg });
  return description === undefined ? s : s.meta({ description });
}

function duration(rule: DurationRule, description: string) {
  return str(durationCheck(rule), { pattern: '^[0-9]+(ms|s|m|h)$', description });
}

const name = (what: string) => str(nameCheck(what), { pattern: SAFE_NAME_RE.source });
const headerName = (what: string) => str(headerNameCheck(what), { pattern: HEADER_NAME_RE.source });
const port = int(1, 65535);
const ipv4 = str(ipv4Check, { description: 'IPv4 address' });
const cidr = str(cidrCheck, { description: 'IPv4 CIDR a.b.c.d/len' });
const filePath = str(pathCheck('file'), { pattern: '^(/[A-Za-z0-9._+-]+)+$', description: 'absolute path of a file' });
const socketPath = str(pathCheck('socket'), { pattern: '^(/[A-Za-z0-9._+-]+)+$', description: 'absolute path of a Unix socket (at most 95 characters)' });
const dirPath = str(pathCheck('directory'), { pattern: '^(/[A-Za-z0-9._+-]+)+$', description: 'absolute path of a directory, without a trailing /' });
const rtbId = str(tokenCheck(/^rtb-[0-9a-z]{1,32}$/, 'route table id', 'rtb-0123456789abcdef0'));
const tagMap = z.record(str(plainTextCheck), str(plainTextCheck));
const adminBind = z.enum(['localhost', 'node', 'vip']);
/** The health URI and the agent's endpoint are for the node itself: never on the VIP. */
const nodeLocalBind = z.enum(['localhost', 'node']);
const timeout = (description: string) => duration({ minMs: 1, maxMs: 24 * 3_600_000 }, description);

function exactlyOne(ctx: RefineCtx, value: Record<string, unknown>, keys: readonly string[], what: string, path: (string | number)[] = []): string | undefined {
  const present = keys.filter((k) => value[k] !== undefined);
  if (present.length === 1) return present[0];
  if (present.length === 0) report(ctx, 'SPEC_REQUIRED', path, `${what} needs one of ${keys.join(', ')}`);
  else report(ctx, 'SPEC_CONFLICT', path, `${what} takes exactly one of ${keys.join(', ')}, found ${present.join(' and ')}; keep one`);
  return undefined;
}

/** Most nodes in a cluster: one VRRP group in which every node advertises to every other one. */
export const MAX_NODES = 32;
/** Most conditions of one route: each is one word of the route's line (HAProxy reads 64 words). */
export const MAX_CONDITIONS = 32;
/** Most certificates of one bind: two words each on the bind line (HAProxy reads 64 words). */
export const MAX_CERTIFICATES = 24;

// ---- cluster -------------------------------------------------------------------------------

export const NodeSchema = z.strictObject({
  name: name('node'),
  address: ipv4,
  zone: str(tokenCheck(/^[a-z0-9][a-z0-9-]{0,62}$/, 'zone', 'us-east-1a')),
  priority: int(1, 254, 'VRRP priority; default 200 - 10 x position').optional(),
  interface: str(interfaceCheck, { pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$' }).optional(),
});

export const VrrpSchema = z.strictObject({
  virtualRouterId: int(1, 255, 'default: crc32(cluster name) mod 255 + 1').optional(),
  advertInterval: duration({ minMs: 10, maxMs: 40_950, multipleOfMs: 10, why: 'VRRPv3 advertises in centiseconds' }, 'default 100ms').optional(),
  preempt: z.boolean().optional(),
  preemptDelay: duration({ minMs: 0, maxMs: 1_000_000 }, 'default 10s').optional(),
  markerAddress: ipv4.optional(),
});

export const CloudSchema = z
  .strictObject({
    provider: z.enum(['aws', 'lab', 'none']).optional(),
    region: str(tokenCheck(/^[a-z0-9][a-z0-9-]{0,31}$/, 'region', 'us-east-1')).optional(),
    vpcId: str(tokenCheck(/^vpc-[0-9a-z]{1,32}$/, 'VPC id', 'vpc-0123456789abcdef0')).optional(),
    endpoint: str(urlCheck).optional(),
    routeTables: z
      .strictObject({
        discover: z.literal('all').optional(),
        tags: tagMap.optional(),
        ids: z.array(rtbId).min(1, { message: 'list at least one route table id' }).optional(),
        exclude: z.array(rtbId).optional(),
      })
      .superRefine((v, ctx) => {
        const kind = exactlyOne(ctx, v, ['discover', 'tags', 'ids'], 'routeTables');
        if (kind === 'ids' && v.exclude !== undefined) report(ctx, 'SPEC_CONFLICT', ['exclude'], 'exclude applies to discover and tags, not to an explicit ids list: remove the ids from the list instead');
      })
      .optional(),
    failover: z.enum(['route', 'eip']).optional(),
    eipAllocationId: str(tokenCheck(/^eipalloc-[0-9a-z]{1,32}$/, 'Elastic IP allocation id', 'eipalloc-0123456789abcdef0')).optional(),
    recheckInterval: duration({ minMs: 1000, maxMs: 3_600_000 }, 'default 10s').optional(),
  })
  .superRefine((v, ctx) => {
    const provider = v.provider ?? 'none';
    if (provider !== 'none' && v.region === undefined) report(ctx, 'SPEC_REQUIRED', [], `provider "${provider}" needs region, for example region: us-east-1`);
    if (provider !== 'none' && (v.failover ?? 'route') === 'route' && v.vpcId === undefined) report(ctx, 'SPEC_REQUIRED', [], `provider "${provider}" with failover "route" needs vpcId (the VPC whose route tables carry the VIP), for example vpcId: vpc-0123456789abcdef0`);
    if (v.failover === 'eip' && v.eipAllocationId === undefined) report(ctx, 'SPEC_REQUIRED', [], 'failover "eip" needs eipAllocationId (the Elastic IP to move), for example eipAllocationId: eipalloc-0123456789abcdef0');
    if (v.eipAllocationId !== undefined && v.failover !== 'eip') report(ctx, 'SPEC_CONFLICT', ['eipAllocationId'], 'eipAllocationId is only used with failover: eip; set failover: eip or remove it');
  });

export const ClusterSchema = z.strictObject({
  name: str(nameCheck('cluster', 32), { pattern: '^[a-z][a-z0-9-]{0,31}$' }),
  vip: ipv4,
  vpcCidrs: z.array(cidr).optional(),
  peerCidrs: z.array(cidr).optional(),
  nodes: z.array(NodeSchema).min(1, { message: 'list at least one node' }).max(MAX_NODES, { message: `list at most ${MAX_NODES} nodes (one VRRP group: every node advertises to every other one)` }),
  vrrp: VrrpSchema.optional(),
  cloud: CloudSchema.optional(),
});

// ---- admin ---------------------------------------------------------------------------------

export const AdminSchema = z.strictObject({
  stats: z
    .strictObject({
      enabled: z.boolean().optional(),
      bind: adminBind.optional(),
      port: port.optional(),
      auth: z.strictObject({ user: headerName('user'), passwordHash: str(passwordHashCheck, { description: 'crypt(3) hash, e.g. from mkpasswd -m sha-512' }) }).optional(),
    })
    .superRefine((v, ctx) => {
      const bind = v.bind ?? 'localhost';
      if (v.enabled !== false && bind !== 'localhost' && v.auth === undefined) report(ctx, 'SPEC_REQUIRED', [], `stats bound to "${bind}" needs auth: {user, passwordHash}; only bind: localhost may go without authentication`);
    })
    .optional(),
  health: z.strictObject({ bind: nodeLocalBind.optional(), port: port.optional(), path: str(requestPathCheck).optional() }).optional(),
  runtimeSocket: socketPath.optional(),
  masterSocket: socketPath.optional(),
  stateDir: dirPath.optional(),
  agent: z.strictObject({ bind: nodeLocalBind.optional(), port: port.optional() }).optional(),
  accessLog: z
    .discriminatedUnion('to', [
      z.strictObject({ to: z.literal('syslog'), socket: socketPath.optional(), facility: z.enum(SYSLOG_FACILITIES).optional() }),
      z.strictObject({ to: z.literal('file'), path: filePath.optional(), maxSizeMiB: int(1, 10_240, 'rotate the file when it reaches this size').optional(), keep: int(1, 100, 'rotated files kept').optional() }),
    ])
    .optional(),
});

// ---- frontends -----------------------------------------------------------------------------

const hostMatch = z.union([
  str((v) => hostExactCheck(v.toLowerCase())),
  z
    .strictObject({ exact: str((v) => hostExactCheck(v.toLowerCase())).optional(), suffix: str((v) => hostSuffixCheck(v.toLowerCase())).optional() })
    .superRefine((v, ctx) => void exactlyOne(ctx, v, ['exact', 'suffix'], 'a host condition')),
]);

const pathMatch = z
  .strictObject({ exact: str(urlPathCheck).optional(), prefix: str(urlPathCheck).optional(), regex: str(regexCheck).optional() })
  .superRefine((v, ctx) => void exactlyOne(ctx, v, ['exact', 'prefix', 'regex'], 'a path condition'));

const SUBJECTS = ['header', 'host', 'path', 'method', 'source', 'query', 'cookie'] as const;
const HEADER_MATCHES = ['exact', 'prefix', 'regex', 'present', 'absent'] as const;
/** Subjects that take a name and one of HEADER_MATCHES in the same list item. */
const NAMED_SUBJECTS: ReadonlySet<string> = new Set(['header', 'query', 'cookie']);

/** Values an `exact`/`prefix` match on a query or cookie can never take (they are never received). */
function checkNamedValue(ctx: RefineCtx, subject: string, v: { exact?: string | undefined; prefix?: string | undefined }): void {
  const check = subject === 'query' ? queryValueCheck : subject === 'cookie' ? cookieValueCheck : undefined;
  if (check === undefined) return;
  for (const k of ['exact', 'prefix'] as const) {
    const value = v[k];
    const p = value === undefined ? undefined : check(value);
    if (p !== undefined) report(ctx, p.code, [k], p.message);
  }
}

export const ConditionSchema = z
  .strictObject({
    header: headerName('header').optional(),
    query: str(queryKeyCheck, { pattern: '^[A-Za-z0-9_.~-]{1,128}$', description: 'query-string key (case-sensitive, as received)' }).optional(),
    cookie: headerName('cookie').optional(),
    exact: str(matchValueCheck).optional(),
    prefix: str(matchValueCheck).optional(),
    regex: str(regexCheck).optional(),
    present: z.literal(true).optional(),
    absent: z.literal(true).optional(),
    host: hostMatch.optional(),
    path: pathMatch.optional(),
    method: z.union([str(methodCheck), z.array(str(methodCheck)).min(1, { message: 'list at least one method' })]).optional(),
    source: z.union([cidr, z.array(cidr).min(1, { message: 'list at least one CIDR' })]).optional(),
  })
  .superRefine((v, ctx) => {
    const subject = exactlyOne(ctx, v, SUBJECTS, 'a condition');
    if (subject === undefined) return;
    if (NAMED_SUBJECTS.has(subject)) {
      exactlyOne(ctx, v, HEADER_MATCHES, `${subject} condition on "${String(v[subject as 'header' | 'query' | 'cookie'])}"`);
      checkNamedValue(ctx, subject, v);
    } else {
      for (const k of HEADER_MATCHES) {
        if (v[k] !== undefined) report(ctx, 'SPEC_CONFLICT', [k], `"${k}" belongs to header, query and cookie conditions; for ${subject} write {${subject}: {exact: ...}} style matches (or put the header match in its own list item)`);
      }
    }
  });

export const SplitSideSchema = z.strictObject({ backend: name('backend'), weight: int(0, 100, 'percent') });

/** Header rewrites of a route: `{add: {Name: value}, set: {Name: value}, remove: [Name]}`. */
const headerRewrite = (what: string) => {
  const hname = str((v) => headerNameCheck(`${what} header`)(v) ?? rewriteHeaderNameCheck(v), { pattern: HEADER_NAME_RE.source });
  return z
    .strictObject({
      add: z.record(hname, str(headerValueCheck)).optional(),
      set: z.record(hname, str(headerValueCheck)).optional(),
      remove: z.array(hname).min(1, { message: 'list at least one header to remove, or leave remove out' }).optional(),
    })
    .meta({ description: `${what} header rewrites; values may use \${client_ip}, \${client_port}, \${host}, \${method}, \${path}, \${query}, \${scheme}` });
};

/** A redirect: `https` (to https, 301, everything else kept) or the parts to replace. */
const RedirectSchema = z.union([
  z.literal('https'),
  z.strictObject({
    scheme: z.enum(['http', 'https']).optional(),
    host: str((v) => hostExactCheck(v.toLowerCase())).optional(),
    port: port.optional(),
    path: str(urlPathCheck).optional(),
    query: str(redirectQueryCheck).optional(),
    status: z
      .number()
      .check((ctx) => {
        if (![301, 302, 303, 307, 308].includes(ctx.value)) ctx.issues.push({ code: 'custom', input: ctx.value, message: `${ctx.value} is not a redirect status; allowed 301, 302, 303, 307, 308 (default 302)`, params: { code: 'SPEC_ENUM' } satisfies IssueParams });
      })
      .meta({ enum: [301, 302, 303, 307, 308] })
      .optional(),
  }),
]);

/** A fixed response answered by the load balancer itself. */
const RespondSchema = z
  .strictObject({
    status: int(200, 599, 'HTTP status of the answer'),
    contentType: str(contentTypeCheck).optional(),
    body: z.string().check((ctx) => {
      const p = bodyCheck(ctx.value);
      if (p !== undefined) ctx.issues.push({ code: 'custom', input: ctx.value, message: p.message, params: { code: p.code } satisfies IssueParams });
    }).optional(),
    bodyFile: filePath.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.body !== undefined && v.bodyFile !== undefined) report(ctx, 'SPEC_CONFLICT', ['bodyFile'], 'a fixed response takes body or bodyFile, not both; keep one');
    if ((v.status === 204 || v.status === 304) && (v.body !== undefined || v.bodyFile !== undefined)) report(ctx, 'SPEC_CONFLICT', ['status'], `status ${v.status} has no body; remove body/bodyFile or use 200`);
  });

/** Longest `duration` of a stickiness cookie: 7 days, as the ALB's duration-based stickiness. */
export const MAX_STICKY_COOKIE_MS = 7 * 24 * 3_600_000;

/**
 * A stickiness cookie issued by the load balancer, on a split (which side) or a backend (which
 * server). `duration` becomes `Max-Age` (whole seconds); without it the cookie lasts the browser
 * session. Attributes are fixed words, never free text.
 */
export const StickyCookieSchema = z
  .strictObject({
    name: str(stickyCookieNameCheck, { pattern: HEADER_NAME_RE.source, description: 'cookie name the load balancer issues (a token: letters, digits, _ . -)' }),
    duration: duration({ minMs: 1000, maxMs: MAX_STICKY_COOKIE_MS, multipleOfMs: 1000, why: 'the cookie\'s Max-Age is in whole seconds, at most 7 days (168h)' }, 'Max-Age of the cookie; default: none (a session cookie)').optional(),
    secure: z.boolean().optional(),
    httpOnly: z.boolean().optional(),
    sameSite: z.enum(['Strict', 'Lax', 'None']).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.sameSite === 'None' && v.secure !== true) report(ctx, 'SPEC_CONFLICT', ['sameSite'], `sameSite None needs secure: true (browsers drop a SameSite=None cookie without Secure); add secure: true or use sameSite: Lax`);
  });

export const RouteSchema = z
  .strictObject({
    name: name('route').optional(),
    when: z.array(ConditionSchema).max(MAX_CONDITIONS, { message: `a route takes at most ${MAX_CONDITIONS} conditions (HAProxy reads at most 64 words per line); combine some: a source or method condition takes a list, and one regex can replace several header or path conditions on the same subject` }).optional(),
    backend: name('backend').optional(),
    split: z.array(SplitSideSchema).min(2, { message: 'a split needs at least 2 sides; to send all traffic to one backend write backend: NAME' }).optional(),
    sticky: z.strictObject({ header: headerName('header').optional(), cookie: headerName('cookie').optional() }).optional(),
    stickyCookie: StickyCookieSchema.optional(),
    switch: name('switch').optional(),
    redirect: RedirectSchema.optional(),
    respond: RespondSchema.optional(),
    requestHeaders: headerRewrite('request').optional(),
    responseHeaders: headerRewrite('response').optional(),
    timeout: duration({ minMs: 1, maxMs: 3_600_000 }, 'how long the backend may take to answer this route (HAProxy timeout server); default the backend\'s').optional(),
  })
  .superRefine((v, ctx) => {
    const action = exactlyOne(ctx, v, ['backend', 'split', 'switch', 'redirect', 'respond'], 'a route');
    if (v.timeout !== undefined && (action === 'redirect' || action === 'respond')) report(ctx, 'SPEC_CONFLICT', ['timeout'], `timeout applies to a route that forwards; a ${action} is answered by the load balancer itself: remove it`);
    if (v.requestHeaders !== undefined && (action === 'redirect' || action === 'respond')) report(ctx, 'SPEC_CONFLICT', ['requestHeaders'], `requestHeaders apply to a route that forwards; a ${action} never reaches a backend: remove them (responseHeaders still apply)`);
    if (v.sticky !== undefined) {
      if (action !== undefined && action !== 'split') report(ctx, 'SPEC_CONFLICT', ['sticky'], 'sticky only applies to a split; remove it or use split');
      exactlyOne(ctx, v.sticky, ['header', 'cookie'], 'sticky', ['sticky']);
    }
    if (v.stickyCookie !== undefined) {
      if (action !== undefined && action !== 'split') report(ctx, 'SPEC_CONFLICT', ['stickyCookie'], `stickyCookie keeps a client on one side of a split; this route's action is ${action}: remove it, or put stickyCookie on the backend to keep clients on one of its servers`);
      else if (v.sticky !== undefined) report(ctx, 'SPEC_CONFLICT', ['stickyCookie'], `a split is sticky either by the client's own key (sticky) or by a cookie the load balancer issues (stickyCookie), not both: keep one`);
    }
    if (v.split !== undefined && v.split.length >= 2) {
      const sum = v.split.reduce((a, s) => a + s.weight, 0);
      if (sum !== 100) report(ctx, 'SPEC_SPLIT_WEIGHTS', ['split'], `the weights add up to ${sum} (${v.split.map((s) => s.weight).join(' + ')}); they must add up to 100`);
      const seen = new Map<string, number>();
      v.split.forEach((s, i) => {
        const first = seen.get(s.backend);
        if (first !== undefined) report(ctx, 'SPEC_DUPLICATE', ['split', i, 'backend'], `backend "${s.backend}" already appears in split[${first}]; each side of a split needs its own backend (merge the weights)`);
        else seen.set(s.backend, i);
      });
    }
  });

/** Most SNI entries of one bind: one line each in the bind's crt-list. */
export const MAX_SNI_ENTRIES = 10_000;
/** Most names of one SNI entry (one line of a crt-list; HAProxy 2.6 reads at most 64 words per line). */
export const MAX_SNI_NAMES = 32;

/** A TLS server name: a lower-case DNS name, optionally with `*.` as its whole first label. */
const sniName = str(sniNameCheck, { pattern: SNI_NAME_RE.source, description: 'server name, for example api.example.com or *.example.com' });

/**
 * A TLS bind. Certificates come either from `certificates` (HAProxy picks one by the names inside
 * each file; the first is the default) or from `sni` + `defaultCertificate` (names in the spec,
 * rendered to a crt-list); mixing both would make the choice depend on load order.
 */
export const TlsSchema = z
  .strictObject({
    certificates: z.array(filePath).min(1, { message: 'list at least one certificate file' }).max(MAX_CERTIFICATES, { message: `list at most ${MAX_CERTIFICATES} certificates (HAProxy reads at most 64 words per line); to serve more, name them under sni with a defaultCertificate` }).optional(),
    sni: z
      .array(z.strictObject({
        names: z.array(sniName).min(1, { message: 'list at least one server name' }).max(MAX_SNI_NAMES, { message: `list at most ${MAX_SNI_NAMES} names per entry; add another entry with the same certificate for more` }),
        certificate: filePath,
      }))
      .min(1, { message: 'list at least one entry, or remove sni' })
      .max(MAX_SNI_ENTRIES, { message: `list at most ${MAX_SNI_ENTRIES} entries per bind` })
      .optional(),
    defaultCertificate: filePath.optional(),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).optional(),
    ciphers: z.array(z.enum(TLS12_CIPHER_NAMES)).min(1, { message: 'list at least one cipher, or remove ciphers for the default (Mozilla intermediate)' }).optional(),
    ciphersuites: z.array(z.enum(TLS13_SUITE_NAMES)).min(1, { message: 'list at least one TLS 1.3 suite, or remove ciphersuites for the default' }).optional(),
    alpn: z.array(str(tokenCheck(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,31}$/, 'ALPN protocol', 'h2'))).optional(),
    clientCertificate: z
      .strictObject({
        ca: filePath.meta({ description: 'PEM bundle of the certificate authorities client certificates must chain to' }),
        verify: z.enum(['required', 'optional']).optional(),
        subjectHeader: headerName('header').optional(),
        verifiedHeader: headerName('header').optional(),
      })
      .optional(),
  })
  .superRefine((v, ctx) => {
    const bySni = v.sni !== undefined || v.defaultCertificate !== undefined;
    if (v.certificates !== undefined && bySni) {
      report(ctx, 'SPEC_CONFLICT', ['certificates'], `use either certificates (HAProxy picks by the names inside each file) or sni + defaultCertificate (names in the spec), not both; move each file to sni with the names it serves`);
    } else if (v.certificates === undefined && !bySni) {
      report(ctx, 'SPEC_REQUIRED', [], 'a TLS bind needs certificates, or sni entries with a defaultCertificate');
    }
    if (v.sni !== undefined && v.defaultCertificate === undefined) {
      report(ctx, 'SPEC_REQUIRED', ['defaultCertificate'], 'sni needs a defaultCertificate: the certificate served when the client sends no server name or one no entry lists');
    }
    if (v.minVersion === 'TLSv1.3' && v.ciphers !== undefined) {
      report(ctx, 'SPEC_CONFLICT', ['ciphers'], 'ciphers apply to TLS 1.2 only and minVersion is TLSv1.3; remove ciphers or choose TLS 1.3 suites with ciphersuites');
    }
    if (v.clientCertificate !== undefined && v.clientCertificate.subjectHeader !== undefined && v.clientCertificate.subjectHeader.toLowerCase() === v.clientCertificate.verifiedHeader?.toLowerCase()) {
      report(ctx, 'SPEC_CONFLICT', ['clientCertificate', 'verifiedHeader'], 'subjectHeader and verifiedHeader must be different headers');
    }
    const seen = new Map<string, number>();
    (v.sni ?? []).forEach((e, i) => {
      e.names.forEach((n, j) => {
        const first = seen.get(n);
        if (first !== undefined) report(ctx, 'SPEC_DUPLICATE', ['sni', i, 'names', j], `server name "${n}" is already listed in sni[${first}]; each name picks one certificate, remove one of them`);
        else seen.set(n, i);
      });
    });
  });

export const BindSchema = z.strictObject({
  address: str(bindAddressCheck, { description: 'vip, node or an IPv4 address' }),
  port,
  tls: TlsSchema.optional(),
});

export const FrontendSchema = z.strictObject({
  name: name('frontend'),
  mode: z.enum(['http', 'tcp']).optional(),
  binds: z.array(BindSchema).min(1, { message: 'list at least one bind' }),
  maxconn: int(1, 10_000_000).optional(),
  timeouts: z.strictObject({ client: timeout('default 30s').optional(), httpRequest: timeout('default 10s').optional(), httpKeepAlive: timeout('default 5s').optional() }).optional(),
  accessLog: z.union([z.boolean(), z.enum(['default', 'json']), z.strictObject({ custom: str(logFormatCheck) })]).optional(),
  forwardedFor: z.boolean().optional(),
  requestId: z.strictObject({ header: headerName('header') }).optional(),
  defaultBackend: name('backend'),
  routes: z.array(RouteSchema).optional(),
});

// ---- backends ------------------------------------------------------------------------------

export const ServerSchema = z.strictObject({
  name: name('server'),
  address: ipv4,
  port,
  weight: int(0, 256, 'default 100').optional(),
  backup: z.boolean().optional(),
});

const expectOne = z.union([int(100, 599), str(statusRangeCheck)]);

export const HealthCheckSchema = z
  .strictObject({
    type: z.enum(['http', 'tcp', 'none']),
    path: str(requestPathCheck).optional(),
    expectStatus: z.union([expectOne, z.array(expectOne).min(1, { message: 'list at least one status or range' })]).optional(),
    host: str((v) => hostExactCheck(v.toLowerCase())).optional(),
    interval: duration({ minMs: 100, maxMs: 3_600_000 }, 'default 2s').optional(),
    rise: int(1, 100).optional(),
    fall: int(1, 100).optional(),
  })
  .superRefine((v, ctx) => {
    const httpOnly = ['path', 'expectStatus', 'host'] as const;
    const timing = ['interval', 'rise', 'fall'] as const;
    const unused = v.type === 'tcp' ? httpOnly : v.type === 'none' ? [...httpOnly, ...timing] : [];
    for (const k of unused) if (v[k] !== undefined) report(ctx, 'SPEC_CONFLICT', [k], `${k} does not apply to a ${v.type} health check; remove it${v.type === 'tcp' && k !== 'host' ? ' or use type: http' : ''}`);
  });

export const BackendSchema = z
  .strictObject({
    name: name('backend'),
    mode: z.enum(['http', 'tcp']).optional(),
    balance: z.union([z.enum(['roundrobin', 'leastconn', 'source', 'uri']), z.strictObject({ header: headerName('header') })]).optional(),
    servers: z.array(ServerSchema).optional(),
    discovery: z.strictObject({ source: name('discovery source') }).optional(),
    spareSlots: int(0, 1000, 'default 0 (static) or 32 (discovery)').optional(),
    healthCheck: HealthCheckSchema.optional(),
    retries: int(0, 100).optional(),
    redispatch: z.boolean().optional(),
    serverMaxconn: int(1, 1_000_000).optional(),
    timeouts: z.strictObject({ connect: timeout('default 5s').optional(), server: timeout('default 30s').optional(), queue: timeout('default 10s').optional() }).optional(),
    drainTime: duration({ minMs: 0, maxMs: 3_600_000 }, 'how long a removed discovered server finishes its requests (no new ones) before it goes; default 30s').optional(),
    slowStart: duration({ minMs: 0, maxMs: 3_600_000 }, 'a joining server ramps from ~0 to its full weight over this time; default 0 (off)').optional(),
    stickyCookie: StickyCookieSchema.optional(),
  })
  .superRefine((v, ctx) => {
    exactlyOne(ctx, v, ['servers', 'discovery'], `backend "${v.name}"`);
    if (v.stickyCookie !== undefined && v.mode === 'tcp') report(ctx, 'SPEC_CONFLICT', ['stickyCookie'], `backend "${v.name}" is tcp and a cookie needs HTTP: remove stickyCookie, set mode: http, or use balance: source`);
  });

// ---- switches and discovery ------------------------------------------------------------------

export const SwitchSchema = z.strictObject({
  name: name('switch'),
  sides: z.record(name('side'), name('backend')),
  active: name('side'),
});

const sourceName = name('discovery source');
export const DiscoverySourceSchema = z.discriminatedUnion('type', [
  z.strictObject({ name: sourceName, type: z.literal('file'), path: filePath }),
  z.strictObject({
    name: sourceName,
    type: z.literal('dns'),
    query: str(tokenCheck(/^[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_-]+)*\.?$/, 'DNS name', 'app.service.internal')),
    recordType: z.enum(['A', 'AAAA', 'SRV']).optional(),
    port: port.optional(),
  }),
  z.strictObject({ name: sourceName, type: z.literal('etcd'), endpoints: z.array(str(urlCheck)).min(1, { message: 'list at least one etcd endpoint URL' }), prefix: str(plainTextCheck) }),
  z.strictObject({
    name: sourceName,
    type: z.literal('consul'),
    address: str(urlCheck, { description: 'Consul HTTP API URL, e.g. http://127.0.0.1:8500' }),
    service: headerName('service'),
    tag: headerName('tag').optional(),
  }),
  z.strictObject({ name: sourceName, type: z.literal('ec2-tags'), tags: tagMap, port }),
]);

// ---- provisioning (overlay-lb up) -------------------------------------------------------------

/**
 * S3's bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
 * 3-63 characters of a-z 0-9 . -, a letter or digit at both ends, no `..`, not an IPv4 address,
 * not the reserved `xn--`/`sthree-` prefixes or `-s3alias`/`--ol-s3` suffixes.
 */
const bucketCheck: StringCheck = (v) => {
  const bad = tokenCheck(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'S3 bucket name (3-63 of a-z 0-9 . -, a letter or digit at both ends)', 'overlay-lb-releases')(v);
  if (bad !== undefined) return bad;
  if (v.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(v) || /^(xn--|sthree-)/.test(v) || /(-s3alias|--ol-s3)$/.test(v)) {
    return { code: 'SPEC_FORMAT', message: `${quoteForMessage(v)} is not a valid S3 bucket name: no "..", not an IP address, no xn--/sthree- prefix or -s3alias/--ol-s3 suffix; for example "overlay-lb-releases"` };
  }
  return undefined;
};

/** A key prefix: "" or path segments of letters, digits, . _ - each followed by `/` (no `.`/`..` segment), at most 200 characters. */
const prefixCheck: StringCheck = (v) => {
  const bad = tokenCheck(/^([A-Za-z0-9_-][A-Za-z0-9._-]*\/)*$/, 'S3 key prefix (segments of letters, digits, . _ - each ending in /, or "")', 'overlay-lb/prod/')(v);
  if (bad !== undefined) return bad;
  if (v.length > 200) return { code: 'SPEC_FORMAT', message: `the prefix is ${v.length} characters long; allowed at most 200: shorten it` };
  return undefined;
};

const zoneName = str(tokenCheck(/^[a-z0-9][a-z0-9-]{0,62}$/, 'zone', 'us-east-1a'));

/**
 * What `overlay-lb up` needs beyond the rest of the spec (docs/provisioning.md): the instances'
 * image and type, where they go, who may reach the frontends and the admin listeners, and where
 * the spec and the package are stored. Ownership tags carry `cluster.name`.
 */
export const ProvisionSchema = z.strictObject({
  imageId: str(tokenCheck(/^ami-[0-9a-f]{8,17}$/, 'image id (ami- and 8 or 17 hex digits)', 'ami-0123456789abcdef0'), { description: 'the AMI of the LB nodes (Debian 12)' }),
  instanceType: str(tokenCheck(/^[a-z][a-z0-9-]{0,15}\.[a-z0-9]{1,16}$/, 'instance type', 't3.small'), { description: 'default t3.small' }).optional(),
  subnets: z.record(zoneName, str(tokenCheck(/^subnet-[0-9a-f]{8,17}$/, 'subnet id', 'subnet-0123456789abcdef0'))).meta({ description: 'zone -> subnet id; a zone not listed uses the VPC subnet of that zone that holds the node address' }).optional(),
  clients: z.record(name('frontend'), z.array(cidr).min(1, { message: 'list at least one CIDR, for example [10.0.0.0/16]' })).meta({ description: 'frontend name -> the client CIDRs its ports accept (security group); every frontend is listed' }),
  adminClients: z.array(cidr).min(1, { message: 'list at least one CIDR, or leave adminClients out (admin listeners reachable from nowhere)' }).optional(),
  bucket: str(bucketCheck, { description: 'S3 bucket of the spec and the package (created, versioned, when missing)' }),
  prefix: str(prefixCheck, { description: 'key prefix of the spec and the package; default "<cluster name>/"' }).optional(),
});

// ---- the whole spec ------------------------------------------------------------------------

export const SpecSchema = z.strictObject({
  version: z.literal(1).optional(),
  cluster: ClusterSchema,
  admin: AdminSchema.optional(),
  frontends: z.array(FrontendSchema).min(1, { message: 'list at least one frontend' }),
  backends: z.array(BackendSchema).min(1, { message: 'list at least one backend' }),
  switches: z.array(SwitchSchema).optional(),
  discovery: z.array(DiscoverySourceSchema).optional(),
  provision: ProvisionSchema.optional(),
});

export type SpecInput = z.output<typeof SpecSchema>;
export type ClusterInput = z.output<typeof ClusterSchema>;
export type AdminInput = z.output<typeof AdminSchema>;
export type FrontendInput = z.output<typeof FrontendSchema>;
export type RouteInput = z.output<typeof RouteSchema>;
export type ConditionInput = z.output<typeof ConditionSchema>;
export type BackendInput = z.output<typeof BackendSchema>;
export type SwitchInput = z.output<typeof SwitchSchema>;
export type DiscoverySourceInput = z.output<typeof DiscoverySourceSchema>;
export type ProvisionInput = z.output<typeof ProvisionSchema>;
