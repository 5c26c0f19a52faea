/**
 * Cross-object rules: unique names and addresses, references, CIDRs, modes and binds.
 *
 * They read the raw (parsed YAML) data with type guards instead of the normalized model, so one
 * structurally broken element does not hide a reference error elsewhere; a value that has the
 * wrong type is skipped here (the schema reports it). Names are collected from the raw data, so a
 * reference to a backend whose definition has a structural error is not reported as unknown.
 */
import type { ErrorCode } from '../util/errors.js';
import type { Finding } from './issues.js';
import { valueAt } from './issues.js';
import { cidrContains, parseCidr, parseIpv4, type ParsedCidr } from '../util/ipv4.js';
import type { SpecPath } from './locate.js';
import { didYouMean, formatPath, isSafeName, quoteForMessage } from './names.js';
import { DEFAULT_RUN_DIR, derivedPriority, derivedPriorityRule } from './normalize.js';
import { LOG_FORMAT_VARIABLES, logFormatVariables } from './strings.js';

type Add = (code: ErrorCode, path: SpecPath, message: string) => void;

function list(raw: unknown, path: SpecPath): unknown[] {
  const v = valueAt(raw, path);
  return Array.isArray(v) ? v : [];
}

function text(raw: unknown, path: SpecPath): string | undefined {
  const v = valueAt(raw, path);
  return typeof v === 'string' ? v : undefined;
}

function num(raw: unknown, path: SpecPath): number | undefined {
  const v = valueAt(raw, path);
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

function entries(raw: unknown, path: SpecPath): [string, unknown][] {
  const v = valueAt(raw, path);
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v) : [];
}

function modeOf(raw: unknown, path: SpecPath): 'http' | 'tcp' | undefined {
  const m = valueAt(raw, [...path, 'mode']);
  return m === undefined ? 'http' : m === 'http' || m === 'tcp' ? m : undefined;
}

/** Names defined in a list (valid or not), in spec order, without duplicates. */
function definedNames(raw: unknown, path: SpecPath): string[] {
  return [...new Set(list(raw, path).map((_, i) => text(raw, [...path, i, 'name'])).filter((n): n is string => n !== undefined))];
}

/** Every cross-object finding of the raw spec data. */
export function checkSemantics(raw: unknown): Finding[] {
  const out: Finding[] = [];
  const add: Add = (code, path, message) => out.push({ code, path, message: `${formatPath(path)}: ${message}`, at: 'value' });
  checkUnique(raw, add);
  checkReferences(raw, add);
  checkCluster(raw, add);
  checkBinds(raw, add);
  checkAdminPaths(raw, add);
  checkEipBinds(raw, add);
  checkStickyCookies(raw, add);
  checkProvision(raw, add);
  return out;
}

/**
 * Every stickiness cookie the load balancer issues has its own name: two splits, or a split and
 * a backend, issuing one name would overwrite each other's cookie in the client (and a backend's
 * `cookie` directive strips its name from the requests and responses it sees).
 */
function checkStickyCookies(raw: unknown, add: Add): void {
  const issued: { path: SpecPath; name: string }[] = [];
  list(raw, ['frontends']).forEach((_, f) => {
    list(raw, ['frontends', f, 'routes']).forEach((_r, j) => {
      const path = ['frontends', f, 'routes', j, 'stickyCookie'];
      const name = text(raw, [...path, 'name']);
      if (name !== undefined) issued.push({ path, name });
    });
  });
  list(raw, ['backends']).forEach((_, b) => {
    const path = ['backends', b, 'stickyCookie'];
    const name = text(raw, [...path, 'name']);
    if (name !== undefined) issued.push({ path, name });
  });
  const first = new Map<string, SpecPath>();
  for (const c of issued) {
    const other = first.get(c.name);
    if (other === undefined) first.set(c.name, c.path);
    else add('SPEC_COOKIE_CLASH', [...c.path, 'name'], `the load balancer already issues the cookie ${quoteForMessage(c.name)} at ${formatPath(other)}; each stickiness cookie needs its own name, or one would overwrite the other in the client: rename one, for example ${quoteForMessage(`${c.name}-2`)}`);
  }
}

function checkUnique(raw: unknown, add: Add): void {
  const unique = (path: SpecPath, what: string, keyOf: (index: number) => string | undefined, field: string, fix: string): void => {
    const seen = new Map<string, number>();
    list(raw, path).forEach((_, i) => {
      const k = keyOf(i);
      if (k === undefined) return;
      const first = seen.get(k);
      if (first === undefined) seen.set(k, i);
      else add('SPEC_DUPLICATE', [...path, i, field], `duplicate ${what} ${quoteForMessage(k)}; ${formatPath([...path, first])} already uses it: ${fix}`);
    });
  };
  const byName = (path: SpecPath) => (i: number) => text(raw, [...path, i, 'name']);
  unique(['frontends'], 'frontend name', byName(['frontends']), 'name', 'rename one');
  unique(['backends'], 'backend name', byName(['backends']), 'name', 'rename one');
  unique(['switches'], 'switch name', byName(['switches']), 'name', 'rename one');
  unique(['discovery'], 'discovery source name', byName(['discovery']), 'name', 'rename one');
  unique(['cluster', 'nodes'], 'node name', byName(['cluster', 'nodes']), 'name', 'rename one');
  unique(['cluster', 'nodes'], 'node address', (i) => text(raw, ['cluster', 'nodes', i, 'address']), 'address', 'every node needs its own address');
  list(raw, ['backends']).forEach((_, b) => {
    const servers = ['backends', b, 'servers'];
    unique(servers, 'server name', byName(servers), 'name', 'rename one');
    unique(servers, 'server address and port', (i) => {
      const a = text(raw, [...servers, i, 'address']);
      const p = num(raw, [...servers, i, 'port']);
      return a === undefined || p === undefined ? undefined : `${a}:${p}`;
    }, 'port', 'list each server once');
  });
  list(raw, ['frontends']).forEach((_, f) => {
    const routes = ['frontends', f, 'routes'];
    unique(routes, 'route name', (j) => (valueAt(raw, [...routes, j, 'name']) === undefined ? `route-${j + 1}` : text(raw, [...routes, j, 'name'])), 'name', 'rename one (unnamed routes are called route-<position>)');
  });
}

function checkReferences(raw: unknown, add: Add): void {
  const backendNames = definedNames(raw, ['backends']);
  const switchNames = definedNames(raw, ['switches']);
  const sourceNames = definedNames(raw, ['discovery']);
  const ref = (path: SpecPath, what: string, defined: readonly string[], plural: string): string | undefined => {
    const value = text(raw, path);
    if (value === undefined || !isSafeName(value)) return undefined;
    if (defined.includes(value)) return value;
    const known = defined.length === 0 ? `no ${plural} are defined` : `defined ${plural}: ${[...defined].sort().join(', ')}.`;
    add('SPEC_REFERENCE', path, `unknown ${what} ${quoteForMessage(value)}; ${known}${didYouMean(value, defined)}`);
    return undefined;
  };
  const backendIndex = new Map<string, number>();
  list(raw, ['backends']).forEach((_, i) => {
    const n = text(raw, ['backends', i, 'name']);
    if (n !== undefined && !backendIndex.has(n)) backendIndex.set(n, i);
  });
  const switchIndex = new Map<string, number>();
  list(raw, ['switches']).forEach((_, i) => {
    const n = text(raw, ['switches', i, 'name']);
    if (n !== undefined && !switchIndex.has(n)) switchIndex.set(n, i);
  });

  // An http frontend cannot use a tcp backend (HAProxy refuses the config).
  const checkMode = (feMode: string | undefined, feName: string, path: SpecPath, backend: string | undefined, via = ''): void => {
    if (feMode !== 'http' || backend === undefined) return;
    const b = backendIndex.get(backend);
    if (b === undefined || modeOf(raw, ['backends', b]) !== 'tcp') return;
    add('SPEC_CONFLICT', path, `http frontend ${quoteForMessage(feName)} cannot send to tcp backend ${quoteForMessage(backend)}${via}; set the backend's mode to http or the frontend's mode to tcp`);
  };

  list(raw, ['frontends']).forEach((_, i) => {
    const fe = ['frontends', i];
    const feMode = modeOf(raw, fe);
    const feName = text(raw, [...fe, 'name']) ?? `frontends[${i}]`;
    checkMode(feMode, feName, [...fe, 'defaultBackend'], ref([...fe, 'defaultBackend'], 'backend', backendNames, 'backends'));
    list(raw, [...fe, 'routes']).forEach((_r, j) => {
      const route = [...fe, 'routes', j];
      checkMode(feMode, feName, [...route, 'backend'], ref([...route, 'backend'], 'backend', backendNames, 'backends'));
      list(raw, [...route, 'split']).forEach((_s, k) => checkMode(feMode, feName, [...route, 'split', k, 'backend'], ref([...route, 'split', k, 'backend'], 'backend', backendNames, 'backends')));
      const sw = ref([...route, 'switch'], 'switch', switchNames, 'switches');
      const swIndex = sw === undefined ? undefined : switchIndex.get(sw);
      if (sw !== undefined && swIndex !== undefined) {
        for (const [side, backend] of entries(raw, ['switches', swIndex, 'sides'])) {
          if (typeof backend === 'string') checkMode(feMode, feName, [...route, 'switch'], backend, ` (side ${quoteForMessage(side)} of switch ${quoteForMessage(sw)})`);
        }
      }
    });
    if (feMode === 'tcp') {
      const custom = text(raw, [...fe, 'accessLog', 'custom']);
      const httpOnly = custom === undefined ? [] : [...new Set(logFormatVariables(custom).filter((name) => LOG_FORMAT_VARIABLES[name] === true))];
      if (httpOnly.length > 0) {
        add('SPEC_CONFLICT', [...fe, 'accessLog', 'custom'], `tcp frontend ${quoteForMessage(feName)} logs ${httpOnly.map((n) => `%${n}`).join(', ')}, which HAProxy allows only in http mode; remove ${httpOnly.length === 1 ? 'it' : 'them'} or set mode: http`);
      }
      if (list(raw, [...fe, 'routes']).length > 0) add('SPEC_CONFLICT', [...fe, 'routes'], `tcp frontend ${quoteForMessage(feName)} cannot have routes (they match HTTP requests); set mode: http or remove the routes`);
      if (valueAt(raw, [...fe, 'requestId']) !== undefined) add('SPEC_CONFLICT', [...fe, 'requestId'], `tcp frontend ${quoteForMessage(feName)} cannot set a request-id header; set mode: http or remove requestId`);
      if (valueAt(raw, [...fe, 'forwardedFor']) === true) add('SPEC_CONFLICT', [...fe, 'forwardedFor'], `tcp frontend ${quoteForMessage(feName)} cannot add X-Forwarded-For; set mode: http or remove forwardedFor`);
    }
  });

  list(raw, ['switches']).forEach((_, i) => {
    const sw = ['switches', i];
    const sides = entries(raw, [...sw, 'sides']);
    if (valueAt(raw, [...sw, 'sides']) !== undefined && sides.length === 0 && !Array.isArray(valueAt(raw, [...sw, 'sides']))) {
      add('SPEC_REQUIRED', [...sw, 'sides'], 'a switch needs at least one side, for example {blue: app-blue, green: app-green}');
    }
    for (const [side] of sides) ref([...sw, 'sides', side], 'backend', backendNames, 'backends');
    const active = text(raw, [...sw, 'active']);
    const names = sides.map(([s]) => s);
    if (active !== undefined && isSafeName(active) && names.length > 0 && !names.includes(active)) {
      add('SPEC_REFERENCE', [...sw, 'active'], `unknown side ${quoteForMessage(active)}; sides of switch ${quoteForMessage(text(raw, [...sw, 'name']) ?? '')}: ${names.join(', ')}.${didYouMean(active, names)}`);
    }
  });

  list(raw, ['backends']).forEach((_, i) => {
    const be = ['backends', i];
    ref([...be, 'discovery', 'source'], 'discovery source', sourceNames, 'discovery sources');
    const balance = valueAt(raw, [...be, 'balance']);
    const kind = balance === 'uri' ? 'uri' : balance !== null && typeof balance === 'object' && 'header' in balance ? 'header' : undefined;
    if (modeOf(raw, be) === 'tcp' && kind !== undefined) {
      add('SPEC_CONFLICT', [...be, 'balance'], `balance ${kind} needs an http backend, but ${quoteForMessage(text(raw, [...be, 'name']) ?? '')} is tcp; use roundrobin, leastconn or source`);
    }
  });

  list(raw, ['discovery']).forEach((_, i) => {
    const src = ['discovery', i];
    const rt = valueAt(raw, [...src, 'recordType']) ?? 'A';
    if (text(raw, [...src, 'type']) === 'dns' && (rt === 'A' || rt === 'AAAA') && valueAt(raw, [...src, 'port']) === undefined) {
      add('SPEC_REQUIRED', src, `dns source ${quoteForMessage(text(raw, [...src, 'name']) ?? '')} with recordType ${rt} needs port (SRV records carry their own)`);
    }
  });
}

function cidrs(raw: unknown, path: SpecPath): { text: string; cidr: ParsedCidr; index: number }[] {
  return list(raw, path).flatMap((c, index) => {
    const cidr = typeof c === 'string' ? parseCidr(c) : undefined;
    return cidr === undefined ? [] : [{ text: cidr.canonical, cidr, index }];
  });
}

const SPECIAL_RANGES: readonly [string, string][] = [
  ['0.0.0.0/8', 'in 0.0.0.0/8 ("this network", the wildcard address)'],
  ['127.0.0.0/8', 'a loopback address (127.0.0.0/8)'],
  ['169.254.0.0/16', 'link-local (169.254.0.0/16)'],
  ['224.0.0.0/4', 'a multicast address (224.0.0.0/4)'],
  ['240.0.0.0/4', 'reserved or the broadcast address (240.0.0.0/4, 255.255.255.255)'],
];

/** Why `address` cannot be a host's unicast address, or undefined when it can. */
function notUnicast(address: number): string | undefined {
  for (const [range, why] of SPECIAL_RANGES) {
    const c = parseCidr(range);
    if (c !== undefined && cidrContains(c, address)) return why;
  }
  return undefined;
}

function checkCluster(raw: unknown, add: Add): void {
  const vipText = text(raw, ['cluster', 'vip']);
  const vip = vipText === undefined ? undefined : parseIpv4(vipText);
  const vpc = cidrs(raw, ['cluster', 'vpcCidrs']);
  const peer = cidrs(raw, ['cluster', 'peerCidrs']);
  if (vip !== undefined) {
    for (const [kind, field, set] of [['VPC', 'vpcCidrs', vpc], ['peer', 'peerCidrs', peer]] as const) {
      for (const c of set) {
        if (!cidrContains(c.cidr, vip)) continue;
        add('SPEC_VIP_IN_CIDR', ['cluster', 'vip'], `VIP ${vipText} lies inside ${kind} CIDR ${c.text} (cluster.${field}[${c.index}]); the VIP must be outside every VPC and peer CIDR so that its /32 route can point at any node: choose an address outside them`);
      }
    }
  }
  if (vip !== undefined && vipText !== undefined) {
    const why = notUnicast(vip);
    if (why !== undefined) add('SPEC_FORMAT', ['cluster', 'vip'], `VIP ${vipText} is ${why}; the VIP must be a unicast address that a route can point at, outside the VPC, for example 192.168.100.10`);
  }
  const nodes = list(raw, ['cluster', 'nodes']);
  const markerText = text(raw, ['cluster', 'vrrp', 'markerAddress']);
  const marker = markerText === undefined ? undefined : parseIpv4(markerText);
  if (marker !== undefined && markerText !== undefined) {
    const at = ['cluster', 'vrrp', 'markerAddress'];
    const why = notUnicast(marker);
    const node = nodes.findIndex((_, i) => text(raw, ['cluster', 'nodes', i, 'address']) === markerText);
    if (marker === vip) add('SPEC_CONFLICT', at, `markerAddress ${markerText} is the VIP; keepalived manages the marker address and deletes it on every backup, where HAProxy then cannot bind the VIP: remove markerAddress (default 169.254.240.<virtualRouterId>) or choose an unused link-local address such as 169.254.240.1`);
    else if (node >= 0) add('SPEC_CONFLICT', at, `markerAddress ${markerText} is the address of node ${quoteForMessage(text(raw, ['cluster', 'nodes', node, 'name']) ?? '')}; keepalived would delete it on every backup: remove markerAddress or choose an unused link-local address such as 169.254.240.1`);
    else if (why !== undefined && !why.startsWith('link-local')) add('SPEC_FORMAT', at, `markerAddress ${markerText} is ${why}; keepalived puts the marker on lo of the master: choose an unused link-local address such as 169.254.240.1`);
  }
  nodes.forEach((_, i) => {
    const at = ['cluster', 'nodes', i, 'address'];
    const t = text(raw, at);
    const a = t === undefined ? undefined : parseIpv4(t);
    if (a === undefined) return;
    // Loopback and link-local stay allowed: a single node on 127.0.0.1 is how tests and local
    // trials run overlay-lb. No host can have a wildcard, multicast or broadcast address.
    const why = notUnicast(a);
    if (why !== undefined && !why.startsWith('a loopback') && !why.startsWith('link-local')) {
      add('SPEC_FORMAT', at, `node address ${t} is ${why}; a node's address is its own unicast private address (its ENI's), for example 10.0.1.10`);
      return;
    }
    const name = quoteForMessage(text(raw, ['cluster', 'nodes', i, 'name']) ?? '');
    if (a === vip) add('SPEC_CONFLICT', at, `node ${name} has the VIP ${t} as its address; a node's address is its own private address, the VIP must differ`);
    else if (vpc.length > 0 && !vpc.some((c) => cidrContains(c.cidr, a))) {
      add('SPEC_CONFLICT', at, `node address ${t} lies outside every VPC CIDR (${vpc.map((c) => c.text).join(', ')}); a node's address is its private address inside the VPC: fix the address or add its CIDR to vpcCidrs`);
    }
  });
  // Equal priorities make VRRP break ties by address: almost never what was meant.
  const seen = new Map<number, number>();
  const priority = (i: number): number | undefined => (valueAt(raw, ['cluster', 'nodes', i, 'priority']) === undefined ? derivedPriority(i, nodes.length) : num(raw, ['cluster', 'nodes', i, 'priority']));
  const how = (j: number): string => (valueAt(raw, ['cluster', 'nodes', j, 'priority']) === undefined ? ` (derived: ${derivedPriorityRule(nodes.length).replace('position', String(j))})` : '');
  nodes.forEach((_, i) => {
    const p = priority(i);
    if (p === undefined) return;
    const first = seen.get(p);
    if (first === undefined) {
      seen.set(p, i);
      return;
    }
    const explicit = valueAt(raw, ['cluster', 'nodes', i, 'priority']) !== undefined;
    const other = quoteForMessage(text(raw, ['cluster', 'nodes', first, 'name']) ?? '');
    add('SPEC_DUPLICATE', ['cluster', 'nodes', i, ...(explicit ? ['priority'] : [])], `priority ${p}${how(i)} equals the priority of node ${other}${how(first)}; give every node its own priority`);
  });
  const provider = valueAt(raw, ['cluster', 'cloud', 'provider']);
  if ((provider === 'aws' || provider === 'lab') && Array.isArray(valueAt(raw, ['cluster', 'nodes'])) && nodes.length === 1) {
    add('SPEC_CONFLICT', ['cluster', 'nodes'], `provider "${provider}" needs at least 2 nodes for failover, got 1; add a node in another zone, or use provider: none for a single node`);
  }
}

interface BindEntry {
  readonly path: SpecPath;
  readonly label: string;
  readonly address: string;
  readonly port: number;
}

/** The admin listeners' defaults, as normalize.ts applies them (a test keeps the two in step). */
export const ADMIN_DEFAULTS = { stats: ['localhost', 8404], health: ['localhost', 8405], agent: ['localhost', 8406] } as const;

function checkBinds(raw: unknown, add: Add): void {
  const entries: BindEntry[] = [];
  list(raw, ['frontends']).forEach((_, i) => {
    list(raw, ['frontends', i, 'binds']).forEach((_b, k) => {
      const address = text(raw, ['frontends', i, 'binds', k, 'address']);
      const port = num(raw, ['frontends', i, 'binds', k, 'port']);
      if (address !== undefined && port !== undefined) entries.push({ path: ['frontends', i, 'binds', k], label: `frontends[${i}].binds[${k}]`, address, port });
    });
  });
  for (const [which, [bind, port]] of Object.entries(ADMIN_DEFAULTS)) {
    if (which === 'stats' && valueAt(raw, ['admin', 'stats', 'enabled']) === false) continue;
    const b = valueAt(raw, ['admin', which, 'bind']) ?? bind;
    const p = valueAt(raw, ['admin', which, 'port']) ?? port;
    if (typeof b === 'string' && typeof p === 'number') entries.push({ path: ['admin', which, 'port'], label: `the ${which} listener`, address: b, port: p });
  }
  const vip = text(raw, ['cluster', 'vip']);
  const nodeAddresses = list(raw, ['cluster', 'nodes']).map((_, i) => text(raw, ['cluster', 'nodes', i, 'address']));
  // Per node, what each bind address resolves to; unknown addresses compare symbolically.
  const resolvers = (nodeAddresses.length === 0 ? [undefined] : nodeAddresses).map(
    (node) => (a: string) => (a === 'vip' ? (vip ?? a) : a === 'node' ? (node ?? a) : a === 'localhost' ? '127.0.0.1' : a),
  );
  const overlap = (a: string, b: string): boolean => a === b || a === '0.0.0.0' || b === '0.0.0.0';
  entries.forEach((e, j) => {
    const clash = entries.slice(0, j).find((o) => o.port === e.port && resolvers.some((r) => overlap(r(o.address), r(e.address))));
    if (clash === undefined) return;
    if (e.path[0] === 'admin') add('SPEC_CONFLICT', e.path, `port ${e.port} of ${e.label} (bind ${e.address}) collides with ${clash.label} (${clash.address}:${clash.port}); choose another port`);
    else add('SPEC_DUPLICATE', e.path, `${e.address}:${e.port} is already bound by ${clash.label} (${clash.address}:${clash.port}); each address and port can be bound once per node: change the port or the address`);
  });
}

/** HAProxy's two admin sockets are two listeners: one path cannot hold both. */
function checkAdminPaths(raw: unknown, add: Add): void {
  const runtime = text(raw, ['admin', 'runtimeSocket']) ?? `${DEFAULT_RUN_DIR}/haproxy.sock`;
  const master = text(raw, ['admin', 'masterSocket']) ?? `${DEFAULT_RUN_DIR}/haproxy-master.sock`;
  if (runtime !== master) return;
  const at = valueAt(raw, ['admin', 'masterSocket']) === undefined ? ['admin', 'runtimeSocket'] : ['admin', 'masterSocket'];
  add('SPEC_CONFLICT', at, `the runtime socket and the master socket are both ${quoteForMessage(runtime)}; HAProxy binds them as two sockets: give each its own path, for example ${quoteForMessage(`${DEFAULT_RUN_DIR}/haproxy-master.sock`)} for the master socket`);
}

/**
 * With `failover: eip` the Elastic IP is associated with the master's private address (its ENI's
 * primary address): its traffic arrives at the node's address, never at the VIP. A frontend bound
 * only to the VIP would never receive it.
 */
function checkEipBinds(raw: unknown, add: Add): void {
  if (valueAt(raw, ['cluster', 'cloud', 'failover']) !== 'eip') return;
  const vip = text(raw, ['cluster', 'vip']);
  list(raw, ['frontends']).forEach((_, i) => {
    const binds = list(raw, ['frontends', i, 'binds']);
    const addresses = binds.map((_b, k) => text(raw, ['frontends', i, 'binds', k, 'address']));
    if (addresses.length === 0 || !addresses.every((a) => a === 'vip' || (a !== undefined && a === vip))) return;
    const name = quoteForMessage(text(raw, ['frontends', i, 'name']) ?? `frontends[${i}]`);
    const port = num(raw, ['frontends', i, 'binds', 0, 'port']) ?? 80;
    add(
      'SPEC_CONFLICT',
      ['frontends', i, 'binds'],
      `frontend ${name} binds only the VIP${vip === undefined ? '' : ` (${vip})`}, but with failover: eip the Elastic IP's traffic arrives at the active node's private address, so this frontend would never receive it: bind the node's address instead (address: node, or 0.0.0.0 for every address), for example binds: [{ address: node, port: ${port} }]`,
    );
  });
}

/**
 * `provision` (overlay-lb up): a cloud to provision into, subnets only for the nodes' zones,
 * client CIDRs for exactly the spec's frontends, adminClients only when an admin listener binds
 * beyond localhost (a rule for a port nothing listens on from the network would only open it).
 */
function checkProvision(raw: unknown, add: Add): void {
  if (valueAt(raw, ['provision']) === undefined) return;
  const provider = valueAt(raw, ['cluster', 'cloud', 'provider']) ?? 'none';
  if (provider === 'none') add('SPEC_CONFLICT', ['provision'], 'provision needs a cloud to provision into: set cluster.cloud.provider to aws (or lab) with its region and vpcId, or remove provision');
  else if (valueAt(raw, ['cluster', 'cloud', 'vpcId']) === undefined) add('SPEC_REQUIRED', ['provision'], 'provision needs cluster.cloud.vpcId: the VPC the nodes, their security group and the role\'s route permissions belong to; for example vpcId: vpc-0123456789abcdef0');
  const zones = list(raw, ['cluster', 'nodes']).map((_, i) => text(raw, ['cluster', 'nodes', i, 'zone'])).filter((z): z is string => z !== undefined);
  for (const [zone] of entries(raw, ['provision', 'subnets'])) {
    if (!zones.includes(zone)) add('SPEC_REFERENCE', ['provision', 'subnets', zone], `zone ${quoteForMessage(zone)} has no node (nodes are in ${zones.map(quoteForMessage).join(', ')}); list a subnet only for a zone of cluster.nodes.${didYouMean(zone, zones)}`);
  }
  const frontends = definedNames(raw, ['frontends']);
  const listed = entries(raw, ['provision', 'clients']).map(([name]) => name);
  for (const name of listed) {
    if (!frontends.includes(name)) add('SPEC_REFERENCE', ['provision', 'clients', name], `frontend ${quoteForMessage(name)} is not defined (frontends: ${frontends.map(quoteForMessage).join(', ')}); list client CIDRs per frontend name.${didYouMean(name, frontends)}`);
  }
  if (valueAt(raw, ['provision', 'clients']) !== undefined) {
    for (const name of frontends.filter((f) => !listed.includes(f))) {
      add('SPEC_REQUIRED', ['provision', 'clients'], `frontend ${quoteForMessage(name)} has no client CIDRs: its ports would be reachable from nowhere; add ${name}: [CIDR, ...], for example ${name}: [10.0.0.0/16]`);
    }
  }
  if (valueAt(raw, ['provision', 'adminClients']) !== undefined) {
    const beyond = Object.entries(ADMIN_DEFAULTS).some(([which, [bind]]) => (valueAt(raw, ['admin', which, 'bind']) ?? bind) !== 'localhost' && !(which === 'stats' && valueAt(raw, ['admin', 'stats', 'enabled']) === false));
    if (!beyond) add('SPEC_CONFLICT', ['provision', 'adminClients'], 'adminClients opens the admin listeners to these CIDRs, but every admin listener binds localhost (admin.stats, admin.health, admin.agent): remove adminClients, or bind a listener to node');
  }
}
