/**
 * A seeded generator of valid specs for the property test: every field of the schema
 * (src/speclang/schema.ts), edge values (ports 1 and 65535, 32 nodes, 32 conditions, 24 certificates,
 * 1000 spare slots, durations at their bounds, 4096-character values), large counts and odd but
 * legal strings (header values with '#', '"', '\', '}', '$', '%[', spaces or nothing at all;
 * paths and regexes at the edges of the PCRE2/JavaScript subset; odd file names).
 *
 * Valid by construction: names are unique, references resolve, modes agree, ports never collide,
 * the VIP lies outside every CIDR. The output is the YAML text a user would write (yaml.stringify
 * quotes whatever needs quoting) plus what the test needs to check it (certificate files to
 * create, the node to render).
 */
import { stringify } from 'yaml';
import { checkRegexSubset } from '../../src/speclang/regex-subset.js';
import { LOG_FORMAT_VARIABLES, logFormatCheck, logFormatVariables } from '../../src/speclang/strings.js';
import { mulberry32 } from '../../src/util/mulberry32.js';

/** A seeded picker over mulberry32. */
export function makeRng(seed: number): Rng {
  const next = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    int,
    chance: (p: number) => next() < p,
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[int(0, items.length - 1)] as T;
    },
    /** Mostly small, sometimes up to `max`: counts with a long tail. */
    count(small: number, max: number): number {
      return next() < 0.9 ? int(0, small) : int(0, max);
    },
  };
}

export interface Rng {
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  count(small: number, max: number): number;
}

export interface GeneratedSpec {
  readonly yaml: string;
  /** The node to render and check. */
  readonly node: string;
  /** Its interface (keepalived's config test needs it to exist). */
  readonly interfaceName: string;
  /** Absolute certificate paths the spec names: the test writes a PEM at each. */
  readonly certificates: readonly string[];
}

export interface GenerateOptions {
  /** Directory (absolute, legal path) under which certificate paths are named. */
  readonly certDir: string;
  /** Whether the schema accepts `ec2-tags` discovery sources (probed by the test). */
  readonly ec2Tags: boolean;
}

type Obj = Record<string, unknown>;

const PRINTABLE_NO_QUOTE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).filter((c) => c !== "'");
const ODD_VALUES = ['', '}', '{', '#', '#x', 'a#b', '"', 'a"b', '\\', 'a\\b', '$HOME', '${X}', '%[src]', '%', ' ', ' lead', 'trail ', 'a  b', '-i', '--', '!', 'or', '||', '-m', 'x'.repeat(4096), '*', '\\x41', '%00'];
/** Every interface name a generated spec may use (the keepalived check creates them all). */
export const INTERFACES = ['eth0', 'ens5', 'a', 'A.b-c_d', 'x123456789abcde', 'bond0.100', 'wg-olb', '0ifc', 'vrrp0'];
const ALPN = ['h2', 'http/1.1', 'x-odd.proto_1', 'h3'];
const HASHES = ['$6$saltsalt$Xo0l2q7yP0m7sSg8C0hHnEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE.', '$5$rounds=5000$abcdefgh$abcdefghijklmnopqrstuvwxyz0123456789ABC', '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7'];
const LOG_LITERALS = ['%%', 'literal', ' ', '-', '"', '{', '}', '#', '$x', ':', '[', ']', 'a=b', '\\', '%[src]', '%{+Q}[src]'];

/** A safe name of 1..`max` characters (never starting with the reserved "olb-"). */
function safeName(rng: Rng, max = 63): string {
  const len = rng.chance(0.1) ? max : rng.int(1, Math.min(12, max));
  let s = rng.pick([...'abcdefghijklmnopqrstuvwxyz']);
  while (s.length < len) s += rng.pick([...'abcdefghijklmnopqrstuvwxyz0123456789-']);
  return s.startsWith('olb-') ? `x${s.slice(1)}` : s;
}

/** Distinct names from `make`, prefixed by position so they never collide. */
function names(rng: Rng, n: number, prefix: string, max = 63): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}${rng.chance(0.5) ? `-${safeName(rng, max - 10)}` : ''}`.slice(0, max).replace(/-+$/, ''));
}

function headerName(rng: Rng): string {
  const first = rng.pick([...'ABCXYZabcxyz0189']);
  const len = rng.chance(0.05) ? 127 : rng.int(0, 12);
  let s = first;
  for (let i = 0; i < len; i++) s += rng.pick([...'abcdefXYZ0189_.-']);
  return s;
}

function printable(rng: Rng, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += rng.pick(PRINTABLE_NO_QUOTE);
  return s;
}

function headerValue(rng: Rng): string {
  return rng.chance(0.4) ? rng.pick(ODD_VALUES) : printable(rng, rng.int(1, 24));
}

function urlPath(rng: Rng): string {
  if (rng.chance(0.1)) return '/';
  const chars = PRINTABLE_NO_QUOTE.filter((c) => c !== ' ' && c !== '#' && c !== '?');
  let s = '/';
  const len = rng.chance(0.02) ? 4000 : rng.int(0, 20);
  for (let i = 0; i < len; i++) s += rng.chance(0.7) ? rng.pick([...'abcxyz019/-._~']) : rng.pick(chars);
  return s;
}

function requestPath(rng: Rng): string {
  let s = '/';
  const len = rng.int(0, 16);
  for (let i = 0; i < len; i++) s += rng.chance(0.1) ? rng.pick(['%20', '%2F', '%7e']) : rng.pick([...'abcXYZ019-._~!&()*+,;=:@/']);
  return s;
}

function hostName(rng: Rng): string {
  const labels = Array.from({ length: rng.int(1, 4) }, () => {
    let l = '';
    const len = rng.int(1, 10);
    for (let i = 0; i < len; i++) l += rng.pick([...'abcxyzABC019-']);
    return l;
  });
  return labels.join('.');
}

/** A regex in the PCRE2/JavaScript subset, built from its grammar. */
function regex(rng: Rng, depth = 0): string {
  const atom = (): string => {
    const k = rng.int(0, 9);
    if (k === 0 && depth < 3) return `(${rng.chance(0.5) ? '?:' : ''}${regex(rng, depth + 1)})`;
    if (k === 1) return rng.pick(['\\d', '\\w', '\\s', '\\D', '\\W', '\\S', '.']);
    if (k === 2) return rng.pick(['[a-z]', '[^/]', '[\\w.-]', '[-\\d]', '[0-9A-F]', '[\\d\\s._-]', '[\\]\\[]', '[\\\\]']);
    if (k === 3) return rng.pick(['\\.', '\\/', '\\$', '\\^', '\\{', '\\}', '\\(', '\\)', '\\*', '\\+', '\\?', '\\|', '\\-', '\\\\']);
    return rng.pick([...'abcXYZ019/_-=:@%#"!,;<>&~`']);
  };
  const piece = (): string => {
    const a = atom();
    const q = rng.int(0, 12);
    if (q === 0) return `${a}*`;
    if (q === 1) return `${a}+${rng.chance(0.3) ? '?' : ''}`;
    if (q === 2) return `${a}?`;
    if (q === 3) return `${a}{${rng.int(0, 5)}}`;
    if (q === 4) return `${a}{${rng.int(0, 3)},}`;
    if (q === 5) {
      const m = rng.int(0, 4);
      return `${a}{${m},${m + rng.int(0, 6)}}`;
    }
    return a;
  };
  const branch = (): string => Array.from({ length: rng.int(1, 5) }, piece).join('');
  const body = Array.from({ length: rng.chance(0.2) ? 2 : 1 }, branch).join('|');
  return depth === 0 ? `${rng.chance(0.3) ? '^' : ''}${body}${rng.chance(0.2) ? '$' : ''}` : body;
}

function validRegex(rng: Rng): string {
  if (rng.chance(0.05)) return rng.pick(['', 'a{65535}', `${'('.repeat(32)}a${')'.repeat(32)}`, '(ab){1000}', '^[\\w.-]+$', '[\\\\d-z]']);
  for (let i = 0; i < 20; i++) {
    const r = regex(rng);
    if (!r.includes(' ') && !r.includes("'") && checkRegexSubset(r) === undefined) return r;
  }
  return '^/x';
}

function cidr(rng: Rng): string {
  const len = rng.pick([0, 1, 8, 12, 16, 24, 31, 32]);
  const addr = rng.int(0, 2 ** 32 - 1);
  const net = len === 0 ? 0 : Math.floor(addr / 2 ** (32 - len)) * 2 ** (32 - len);
  const ip = [24, 16, 8, 0].map((s) => Math.floor(net / 2 ** s) % 256).join('.');
  return len === 32 && rng.chance(0.5) ? ip : `${ip}/${len}`;
}

function duration(rng: Rng, minMs: number, maxMs: number): string {
  const ms = rng.chance(0.2) ? rng.pick([minMs, maxMs]) : rng.int(minMs, Math.min(maxMs, 120_000));
  if (ms % 3_600_000 === 0 && ms > 0 && rng.chance(0.5)) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0 && rng.chance(0.5)) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && rng.chance(0.5)) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function legalPath(rng: Rng, prefix: string, max: number): string {
  const seg = (): string => {
    let s = '';
    const len = rng.int(1, 10);
    for (let i = 0; i < len; i++) s += rng.pick([...'abcXYZ019._+-']);
    return s === '.' || s === '..' ? `${s}x` : s;
  };
  let p = prefix;
  const n = rng.int(1, 4);
  for (let i = 0; i < n; i++) p += `/${seg()}`;
  return p.length <= max ? p : p.slice(0, max).replace(/\/[^/]*$/, '/x');
}

/** Builds spec number `index` of the run seeded with `seed`. */
export function generateSpec(seed: number, index: number, options: GenerateOptions): GeneratedSpec {
  const rng = makeRng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const certificates = new Set<string>();
  let nextPort = rng.chance(0.1) ? 1 : rng.chance(0.1) ? 65535 - 400 : rng.int(1, 60_000);
  const port = (): number => {
    const p = nextPort;
    nextPort = nextPort >= 65535 ? 1 : nextPort + 1;
    return p;
  };

  // ---- cluster ----
  const provider = rng.pick(['none', 'none', 'aws', 'lab'] as const);
  const failover = provider === 'none' ? rng.pick(['route', undefined] as const) : rng.pick(['route', 'eip', undefined] as const);
  const nodeCount = Math.max(provider === 'none' ? 1 : 2, rng.chance(0.05) ? 32 : rng.int(1, 4));
  const nodeNames = names(rng, nodeCount, 'n');
  const nodes = nodeNames.map((name, i): Obj => {
    const n: Obj = { name, address: `10.${1 + (i % 200)}.${rng.int(0, 255)}.${rng.int(1, 254)}`, zone: safeName(rng, 20) };
    if (rng.chance(0.5)) n['interface'] = rng.pick(INTERFACES);
    return n;
  });
  const priorityMode = rng.int(0, 2);
  if (priorityMode === 1) {
    const pool = Array.from({ length: 254 }, (_, i) => i + 1);
    for (const n of nodes) n['priority'] = pool.splice(rng.int(0, pool.length - 1), 1)[0];
  }
  const vip = rng.pick([`192.168.${rng.int(0, 255)}.${rng.int(1, 254)}`, `100.64.${rng.int(0, 255)}.${rng.int(1, 254)}`, `203.0.113.${rng.int(1, 254)}`, '1.0.0.1', '223.255.255.254']);
  const cluster: Obj = { name: safeName(rng, 32), vip, nodes };
  if (rng.chance(0.5)) cluster['vpcCidrs'] = rng.chance(0.5) ? ['10.0.0.0/8'] : ['10.0.0.0/9', '10.128.0.0/9'];
  if (rng.chance(0.3)) cluster['peerCidrs'] = rng.pick([['172.16.0.0/12'], ['172.16.0.0/16', '172.17.0.0/16'], []]);
  if (rng.chance(0.6)) {
    const vrrp: Obj = {};
    if (rng.chance(0.5)) vrrp['virtualRouterId'] = rng.pick([1, 255, rng.int(1, 255)]);
    if (rng.chance(0.5)) vrrp['advertInterval'] = rng.pick(['10ms', '40950ms', '100ms', '1s', '2s', `${rng.int(1, 4095) * 10}ms`]);
    if (rng.chance(0.5)) vrrp['preempt'] = rng.chance(0.5);
    if (rng.chance(0.5)) vrrp['preemptDelay'] = rng.pick(['0s', '0ms', '1000s', '16m', duration(rng, 0, 1_000_000)]);
    if (rng.chance(0.3)) vrrp['markerAddress'] = `169.254.${rng.int(0, 255)}.${rng.int(1, 254)}`;
    cluster['vrrp'] = vrrp;
  }
  if (provider !== 'none' || rng.chance(0.3)) {
    const cloud: Obj = { provider };
    if (provider !== 'none' || rng.chance(0.5)) cloud['region'] = rng.pick(['us-east-1', 'eu-west-3', 'lab']);
    if (failover !== undefined) cloud['failover'] = failover;
    if (failover !== 'eip' && (provider !== 'none' || rng.chance(0.5))) cloud['vpcId'] = `vpc-${safeName(rng, 17).replace(/-/g, '0')}`;
    if (failover === 'eip') cloud['eipAllocationId'] = `eipalloc-${rng.int(0, 1e9).toString(16)}`;
    if (rng.chance(0.5)) cloud['endpoint'] = rng.pick(['http://127.0.0.1:4566', 'https://ec2.example.com/', 'http://[::1]:8080/x?y=1']);
    if (rng.chance(0.5)) {
      const k = rng.int(0, 2);
      cloud['routeTables'] =
        k === 0 ? { discover: 'all', ...(rng.chance(0.5) ? { exclude: ['rtb-0a'] } : {}) }
        : k === 1 ? { tags: { 'olb:cluster': printable(rng, 5).replace(/["`]/g, '') }, ...(rng.chance(0.5) ? { exclude: ['rtb-1b', 'rtb-2c'] } : {}) }
        : { ids: ['rtb-0123456789abcdef0', 'rtb-1'] };
    }
    if (rng.chance(0.5)) cloud['recheckInterval'] = duration(rng, 1000, 3_600_000);
    cluster['cloud'] = cloud;
  }

  // ---- backends ----
  const backendCount = rng.chance(0.05) ? 20 : rng.int(1, 4);
  const backendNames = names(rng, backendCount, 'be');
  const discoveryCount = rng.chance(0.3) ? rng.int(1, 3) : 0;
  const sourceNames = names(rng, discoveryCount, 'src');
  let bigSpares = rng.chance(0.05);
  const backends = backendNames.map((name, bi): Obj => {
    const mode = bi === 0 ? 'http' : rng.chance(0.2) ? 'tcp' : 'http';
    const b: Obj = { name };
    if (mode === 'tcp' || rng.chance(0.3)) b['mode'] = mode;
    const balances = mode === 'http' ? ['roundrobin', 'leastconn', 'source', 'uri', 'header'] : ['roundrobin', 'leastconn', 'source'];
    if (rng.chance(0.5)) {
      const bal = rng.pick(balances);
      b['balance'] = bal === 'header' ? { header: headerName(rng) } : bal;
    }
    if (sourceNames.length > 0 && rng.chance(0.4)) b['discovery'] = { source: rng.pick(sourceNames) };
    else {
      const count = rng.chance(0.03) ? 100 : rng.int(0, 4);
      const used = new Set<string>();
      b['servers'] = names(rng, count, 's').flatMap((sname): Obj[] => {
        const address = `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(0, 255)}`;
        const p = rng.pick([1, 65535, rng.int(1, 65535)]);
        if (used.has(`${address}:${p}`)) return [];
        used.add(`${address}:${p}`);
        const s: Obj = { name: sname, address, port: p };
        if (rng.chance(0.3)) s['weight'] = rng.pick([0, 256, rng.int(0, 256)]);
        if (rng.chance(0.2)) s['backup'] = rng.chance(0.5);
        return [s];
      });
    }
    if (rng.chance(0.3)) {
      b['spareSlots'] = bigSpares ? 1000 : rng.int(0, 40);
      bigSpares = false;
    }
    if (rng.chance(0.6)) {
      const type = mode === 'tcp' ? rng.pick(['tcp', 'none'] as const) : rng.pick(['http', 'tcp', 'none'] as const);
      const hc: Obj = { type };
      if (type === 'http') {
        if (rng.chance(0.6)) hc['path'] = requestPath(rng);
        if (rng.chance(0.5)) hc['expectStatus'] = rng.pick<unknown>([200, 599, '200-399', '100-599', [200, '301-302', 404]]);
        if (rng.chance(0.3)) hc['host'] = hostName(rng);
      }
      if (type !== 'none') {
        if (rng.chance(0.5)) hc['interval'] = duration(rng, 100, 3_600_000);
        if (rng.chance(0.5)) hc['rise'] = rng.int(1, 100);
        if (rng.chance(0.5)) hc['fall'] = rng.int(1, 100);
      }
      b['healthCheck'] = hc;
    }
    if (mode === 'http' && rng.chance(0.15)) b['stickyCookie'] = stickyCookie(rng, `b${bi}`);
    if (rng.chance(0.3)) b['retries'] = rng.int(0, 100);
    if (rng.chance(0.3)) b['redispatch'] = rng.chance(0.5);
    if (rng.chance(0.3)) b['serverMaxconn'] = rng.pick([1, 1_000_000, rng.int(1, 5000)]);
    if (rng.chance(0.3)) b['timeouts'] = { connect: duration(rng, 1, 86_400_000), server: duration(rng, 1, 86_400_000), queue: duration(rng, 1, 86_400_000) };
    if (rng.chance(0.3)) b['drainTime'] = rng.chance(0.2) ? '0s' : duration(rng, 0, 3_600_000);
    if (rng.chance(0.3)) b['slowStart'] = rng.chance(0.2) ? '0s' : duration(rng, 0, 3_600_000);
    return b;
  });
  const httpBackends = backends.filter((b) => b['mode'] !== 'tcp').map((b) => String(b['name']));
  const allBackends = backends.map((b) => String(b['name']));

  // ---- switches ----
  const switches = names(rng, rng.chance(0.3) ? rng.int(1, 3) : 0, 'sw').map((name): Obj => {
    const sides: Obj = {};
    for (const side of names(rng, rng.int(1, 3), 'side')) sides[side] = rng.pick(httpBackends);
    return { name, sides, active: rng.pick(Object.keys(sides)) };
  });

  // ---- frontends ----
  const frontendCount = rng.chance(0.05) ? 10 : rng.int(1, 3);
  const frontends = names(rng, frontendCount, 'fe').map((name, fi): Obj => {
    const mode = rng.chance(0.2) ? 'tcp' : 'http';
    const http = mode === 'http';
    const fe: Obj = { name };
    if (!http || rng.chance(0.3)) fe['mode'] = mode;
    const bindCount = rng.int(1, 3);
    const binds = Array.from({ length: bindCount }, (_, k): Obj => {
      const address = failover === 'eip' && k === 0 ? rng.pick(['node', '0.0.0.0']) : rng.pick(['vip', 'vip', 'node', '0.0.0.0', `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`, vip]);
      const b: Obj = { address, port: port() };
      if (rng.chance(0.12)) {
        const count = rng.chance(0.04) ? 24 : rng.int(1, 2);
        // One directory per certificate, so no certificate path is a directory of another.
        const certs = Array.from({ length: count }, (_c, n) => legalPath(rng, `${options.certDir}/c${certificates.size + n}`, 1024));
        for (const c of certs) certificates.add(c);
        const tls: Obj = { certificates: certs };
        if (rng.chance(0.5)) tls['minVersion'] = rng.pick(['TLSv1.2', 'TLSv1.3']);
        if (rng.chance(0.5)) tls['alpn'] = rng.chance(0.2) ? [] : [...new Set(Array.from({ length: rng.int(1, 3) }, () => rng.pick(ALPN)))];
        b['tls'] = tls;
      }
      return b;
    });
    fe['binds'] = binds;
    if (rng.chance(0.3)) fe['maxconn'] = rng.pick([1, 10_000_000, rng.int(1, 100_000)]);
    if (rng.chance(0.3)) fe['timeouts'] = http ? { client: duration(rng, 1, 86_400_000), httpRequest: duration(rng, 1, 86_400_000), httpKeepAlive: duration(rng, 1, 86_400_000) } : { client: duration(rng, 1, 86_400_000) };
    if (rng.chance(0.4)) {
      const k = rng.int(0, 4);
      fe['accessLog'] = k === 0 ? false : k === 1 ? true : k === 2 ? 'default' : k === 3 ? 'json' : { custom: logFormat(rng, http) };
    }
    if (http && rng.chance(0.3)) fe['forwardedFor'] = rng.chance(0.5);
    if (!http && rng.chance(0.1)) fe['forwardedFor'] = false;
    if (http && rng.chance(0.3)) fe['requestId'] = { header: headerName(rng) };
    const targets = http ? httpBackends : allBackends;
    fe['defaultBackend'] = rng.pick(targets);
    if (http && rng.chance(0.7)) fe['routes'] = routes(rng, httpBackends, switches, `f${fi}`);
    return fe;
  });

  // ---- admin ----
  const admin: Obj = {};
  if (rng.chance(0.5)) {
    const stats: Obj = {};
    if (rng.chance(0.3)) stats['enabled'] = rng.chance(0.7);
    const bind = rng.pick(['localhost', 'node', 'vip']);
    if (rng.chance(0.6)) stats['bind'] = bind;
    stats['port'] = port();
    if (bind !== 'localhost' || rng.chance(0.3)) stats['auth'] = { user: headerName(rng), passwordHash: rng.pick(HASHES) };
    admin['stats'] = stats;
  } else admin['stats'] = { port: port() };
  admin['health'] = { port: port(), ...(rng.chance(0.5) ? { bind: rng.pick(['localhost', 'node']) } : {}), ...(rng.chance(0.5) ? { path: requestPath(rng) } : {}) };
  admin['agent'] = { port: port(), ...(rng.chance(0.5) ? { bind: rng.pick(['localhost', 'node']) } : {}) };
  if (rng.chance(0.4)) {
    const dir = legalPath(rng, '/run', 70);
    admin['runtimeSocket'] = `${dir}/h.sock`;
    admin['masterSocket'] = `${dir}/m${rng.chance(0.5) ? '.sock' : ''}`;
    if (rng.chance(0.2)) admin['runtimeSocket'] = `/r/${'s'.repeat(92)}`;
  }
  if (rng.chance(0.4)) admin['stateDir'] = legalPath(rng, rng.pick(['/run', '/var/lib', '']), 200) || '/x';

  // ---- discovery ----
  const discovery = sourceNames.map((name): Obj => {
    const kinds = ['file', 'dns', 'etcd', 'consul', ...(options.ec2Tags ? ['ec2-tags'] : [])];
    const type = rng.pick(kinds);
    switch (type) {
      case 'file':
        return { name, type, path: legalPath(rng, '/etc', 300) };
      case 'dns': {
        const recordType = rng.pick(['A', 'AAAA', 'SRV', undefined]);
        return { name, type, query: rng.pick(['app.service.internal', '_http._tcp.x.', 'a']), ...(recordType === undefined ? {} : { recordType }), ...(recordType === 'SRV' && rng.chance(0.5) ? {} : { port: rng.int(1, 65535) }) };
      }
      case 'etcd':
        return { name, type, endpoints: ['http://127.0.0.1:2379', 'https://etcd.example:2379/'], prefix: printable(rng, rng.int(0, 10)).replace(/["`]/g, '') };
      case 'consul':
        return { name, type, address: 'http://127.0.0.1:8500', service: headerName(rng), ...(rng.chance(0.5) ? { tag: headerName(rng) } : {}) };
      default:
        return { name, type, tags: { app: 'web' }, port: rng.int(1, 65535) };
    }
  });

  const spec: Obj = {};
  if (rng.chance(0.5)) spec['version'] = 1;
  spec['cluster'] = cluster;
  if (Object.keys(admin).length > 0) spec['admin'] = admin;
  spec['frontends'] = frontends;
  spec['backends'] = backends;
  if (switches.length > 0 || rng.chance(0.1)) spec['switches'] = switches;
  if (discovery.length > 0) spec['discovery'] = discovery;

  const nodeIndex = rng.int(0, nodes.length - 1);
  const node = nodes[nodeIndex] ?? {};
  const interfaceName = typeof node['interface'] === 'string' ? node['interface'] : 'eth0';
  return { yaml: stringify(spec, { lineWidth: 0 }), node: String(node['name']), interfaceName, certificates: [...certificates] };
}

/** A custom log format HAProxy accepts in a proxy of this mode. */
function logFormat(rng: Rng, http: boolean): string {
  const variables = Object.entries(LOG_FORMAT_VARIABLES).filter(([, httpOnly]) => http || !httpOnly).map(([name]) => name);
  for (let attempt = 0; attempt < 20; attempt++) {
    const f = Array.from({ length: rng.int(1, 8) }, () => (rng.chance(0.5) ? `%${rng.chance(0.2) ? rng.pick(['{+Q}', '{+X}', '{+Q,+E}', '{-Q}']) : ''}${rng.pick(variables)}` : rng.pick([...LOG_LITERALS, ...(http ? ['%[dst]'] : [])]))).join(rng.pick(['', ' ', '-', '|']));
    // Joined parts can make another variable than the one picked (`%T` then `a=b` reads as `%Ta`),
    // so the mode check reads the variables of the whole format, as validate does.
    if (f.trim() !== '' && logFormatCheck(f) === undefined && (http || logFormatVariables(f).every((name) => LOG_FORMAT_VARIABLES[name] !== true))) return f;
  }
  return '%ci:%cp';
}

function routes(rng: Rng, httpBackends: readonly string[], switches: readonly Obj[], tag: string): Obj[] {
  const out: Obj[] = [];
  const count = rng.chance(0.05) ? 40 : rng.int(0, 6);
  while (out.length < count) {
    if (rng.chance(0.3)) {
      // A run of same-shaped single-condition routes: compiled to one map file.
      const shape = rng.int(0, 7);
      const header = headerName(rng);
      const key = queryKey(rng);
      const run = rng.int(2, 8);
      for (let k = 0; k < run; k++) {
        const cond: Obj =
          shape === 0 ? { header, exact: headerValue(rng) }
          : shape === 1 ? { header, prefix: headerValue(rng) }
          : shape === 2 ? { host: hostName(rng) }
          : shape === 3 ? { path: { exact: urlPath(rng) } }
          : shape === 4 ? { path: { prefix: urlPath(rng) } }
          : shape === 5 ? { query: key, exact: l7Value(rng, QUERY_VALUE_CHARS) }
          : shape === 6 ? { cookie: header, prefix: l7Value(rng, COOKIE_VALUE_CHARS) }
          : { source: rng.chance(0.5) ? cidr(rng) : Array.from({ length: rng.int(1, 4) }, () => cidr(rng)) };
        out.push({ when: [cond], backend: rng.pick(httpBackends) });
      }
      continue;
    }
    const condCount = rng.chance(0.05) ? 32 : rng.int(0, 4);
    const route: Obj = { when: Array.from({ length: condCount }, () => condition(rng)) };
    if (condCount === 0 && rng.chance(0.5)) delete route['when'];
    const action = rng.int(0, 6);
    let forwards = true;
    if (action === 0 && httpBackends.length >= 2) {
      const sides = [...httpBackends].sort(() => (rng.chance(0.5) ? 1 : -1)).slice(0, rng.int(2, Math.min(4, httpBackends.length)));
      let left = 100;
      route['split'] = sides.map((backend, i) => {
        const weight = i === sides.length - 1 ? left : rng.int(0, left);
        left -= weight;
        return { backend, weight };
      });
      if (rng.chance(0.4)) route['sticky'] = rng.chance(0.5) ? { header: headerName(rng) } : { cookie: headerName(rng) };
      // An LB-issued cookie, named uniquely in the spec (frontend and route position).
      else if (rng.chance(0.5)) route['stickyCookie'] = stickyCookie(rng, `${tag}r${out.length}`);
    } else if (action === 1 && switches.length > 0) route['switch'] = rng.pick(switches)['name'];
    else if (action === 2) {
      route['redirect'] = redirect(rng);
      forwards = false;
    } else if (action === 3) {
      route['respond'] = respond(rng);
      forwards = false;
    } else route['backend'] = rng.pick(httpBackends);
    if (forwards && rng.chance(0.3)) route['requestHeaders'] = headerRewrite(rng);
    if (rng.chance(0.3)) route['responseHeaders'] = headerRewrite(rng);
    if (forwards && rng.chance(0.2)) route['timeout'] = duration(rng, 1, 3_600_000);
    out.push(route);
  }
  return out.slice(0, count).map((r, i) => (rng.chance(0.3) ? { name: `r${i}${rng.chance(0.5) ? `-${safeName(rng, 40)}` : ''}`, ...r } : r));
}

/** Characters a query value of an exact/prefix condition may hold (no space, `&`, `;`, `?`, `#`, `'`). */
const QUERY_VALUE_CHARS = [...'abcXYZ019%+._~=/-:@!$*(),'];
/** Characters a cookie value of an exact/prefix condition may hold (no `;`, `,`, `"`, `'`, no space). */
const COOKIE_VALUE_CHARS = [...'abcXYZ019%+._~=/-:@!$*()?&#'];

function l7Value(rng: Rng, chars: readonly string[]): string {
  let s = '';
  const len = rng.chance(0.05) ? 0 : rng.int(1, 16);
  for (let i = 0; i < len; i++) s += rng.pick(chars);
  return s;
}

function queryKey(rng: Rng): string {
  let s = '';
  const len = rng.chance(0.03) ? 128 : rng.int(1, 12);
  for (let i = 0; i < len; i++) s += rng.pick([...'abqXYZ019_.~-']);
  return s;
}

/** A stickiness cookie the load balancer issues; `tag` makes its name unique in the spec. */
function stickyCookie(rng: Rng, tag: string): Obj {
  const secure = rng.chance(0.5);
  const c: Obj = { name: `${headerName(rng).slice(0, 100)}.${tag}` };
  if (rng.chance(0.6)) c['duration'] = rng.chance(0.5) ? `${rng.int(1, 168)}h` : `${rng.pick([1, 604_800, rng.int(1, 604_800)])}s`;
  if (secure || rng.chance(0.3)) c['secure'] = secure;
  if (rng.chance(0.4)) c['httpOnly'] = rng.chance(0.5);
  if (rng.chance(0.5)) c['sameSite'] = rng.pick(secure ? ['Strict', 'Lax', 'None'] : ['Strict', 'Lax']);
  return c;
}

const STATUSES = [301, 302, 303, 307, 308] as const;

function redirect(rng: Rng): unknown {
  if (rng.chance(0.2)) return 'https';
  const r: Obj = {};
  if (rng.chance(0.4)) r['scheme'] = rng.pick(['http', 'https']);
  if (rng.chance(0.4)) r['host'] = hostName(rng);
  if (rng.chance(0.3)) r['port'] = rng.pick([1, 80, 443, 8443, 65535]);
  if (rng.chance(0.4)) r['path'] = urlPath(rng);
  if (rng.chance(0.3)) r['query'] = rng.chance(0.2) ? '' : l7Value(rng, QUERY_VALUE_CHARS.filter((c) => c !== '?'));
  if (rng.chance(0.7)) r['status'] = rng.pick(STATUSES);
  return r;
}

function respond(rng: Rng): Obj {
  const status = rng.pick([200, 204, 304, 403, 404, 418, 503, 599]);
  const r: Obj = { status };
  if (status === 204 || status === 304) return r;
  if (rng.chance(0.5)) r['contentType'] = rng.pick(['text/plain', 'text/html; charset=utf-8', 'application/json', 'application/vnd.a+json;v=1']);
  if (rng.chance(0.8)) r['body'] = rng.chance(0.03) ? 'x'.repeat(4096) : `${printable(rng, rng.int(0, 40))}${rng.chance(0.5) ? '\n\t"%$\\' : ''}`;
  return r;
}

const HEADER_VARIABLES = ['client_ip', 'client_port', 'host', 'method', 'path', 'query', 'scheme'];

/** A header value: printable text (no `'`, no stray `${`) with request variables. */
function rewriteValue(rng: Rng): string {
  const parts = Array.from({ length: rng.int(1, 3) }, () => (rng.chance(0.4) ? `\${${rng.pick(HEADER_VARIABLES)}}` : printable(rng, rng.int(1, 12))));
  // A stray `${` is refused by validate, also one made by the join (a part ending in `$`, the next
  // starting with `{`): split every `${` that does not open a variable.
  const v = parts.join('').replace(new RegExp(`\\$\\{(?!(?:${HEADER_VARIABLES.join('|')})\\})`, 'g'), '$ {');
  return v.trim() === '' ? 'x' : v;
}

function headerRewrite(rng: Rng): Obj {
  const r: Obj = {};
  const pairs = (): Obj => Object.fromEntries(Array.from({ length: rng.int(1, 3) }, () => [headerName(rng), rewriteValue(rng)]));
  if (rng.chance(0.5)) r['set'] = pairs();
  if (rng.chance(0.5)) r['add'] = pairs();
  if (rng.chance(0.4) || Object.keys(r).length === 0) r['remove'] = Array.from({ length: rng.int(1, 3) }, () => headerName(rng));
  return r;
}

function condition(rng: Rng): Obj {
  const k = rng.int(0, 11);
  if (k >= 10) {
    // Query-string and cookie conditions (issue 21).
    const query = k === 10;
    const subject: Obj = query ? { query: queryKey(rng) } : { cookie: headerName(rng) };
    const chars = query ? QUERY_VALUE_CHARS : COOKIE_VALUE_CHARS;
    const m = rng.int(0, 4);
    return { ...subject, ...(m === 0 ? { exact: l7Value(rng, chars) } : m === 1 ? { prefix: l7Value(rng, chars) } : m === 2 ? { regex: validRegex(rng) } : m === 3 ? { present: true } : { absent: true }) };
  }
  if (k <= 3) {
    const header = headerName(rng);
    const m = rng.int(0, 4);
    return m === 0 ? { header, exact: headerValue(rng) } : m === 1 ? { header, prefix: headerValue(rng) } : m === 2 ? { header, regex: validRegex(rng) } : m === 3 ? { header, present: true } : { header, absent: true };
  }
  if (k === 4) {
    const h = hostName(rng);
    return rng.chance(0.3) ? { host: h } : rng.chance(0.5) ? { host: { exact: h } } : { host: { suffix: rng.chance(0.5) ? `.${h}` : h } };
  }
  if (k === 5) {
    const m = rng.int(0, 2);
    return { path: m === 0 ? { exact: urlPath(rng) } : m === 1 ? { prefix: urlPath(rng) } : { regex: validRegex(rng) } };
  }
  if (k === 6) {
    const methods = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'X', 'PROPFIND', 'A'.repeat(32)];
    return { method: rng.chance(0.4) ? rng.pick(methods) : Array.from({ length: rng.chance(0.1) ? 70 : rng.int(1, 4) }, () => rng.pick(methods)) };
  }
  return { source: rng.chance(0.3) ? cidr(rng) : Array.from({ length: rng.chance(0.1) ? 70 : rng.int(1, 5) }, () => cidr(rng)) };
}
