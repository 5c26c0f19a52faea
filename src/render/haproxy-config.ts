/**
 * The typed HAProxy configuration: what the renderer produces and what the planner and the
 * executor read, with ONE serializer to the haproxy.cfg text (`serializeHaproxyConfig`).
 *
 * Why a structure: the planner must tell what the Runtime API can change (server addresses,
 * weights, states, map entries) from what needs a reload, and the executor must write the
 * discovered servers into their spare slots. Reading that back out of the text with regexes tied
 * both to the renderer's exact spelling; here servers are data, and every map file the config
 * refers to is listed with its role.
 *
 * Pure and JSON-plain. The serialized text is byte-identical to what the renderer wrote before
 * the structure existed (the render golden tests pin it).
 */

/** The prefix of the renderer's spare slot names (`olb-spare-<n>`, 1-based). */
export const SPARE_PREFIX = 'olb-spare-';

/** The address and port an empty spare slot is rendered with (`0.0.0.0:0`, `disabled`). */
export const EMPTY_SLOT = { address: '0.0.0.0', port: 0, weight: 100 } as const;

/**
 * One `server` line of a backend, as data. Serialized as
 * `server <name> <address>:<port> weight <weight>[ backup][ disabled][ check][ cookie <cookie>]`.
 */
export interface ServerLine {
  readonly kind: 'server';
  readonly name: string;
  /** As written before `:port`: an IPv6 address is in brackets (`[2001:db8::1]`). */
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** A spare slot (`olb-spare-<n>`) the agent fills through the Runtime API; false for the spec's own servers. */
  readonly spare: boolean;
  readonly backup: boolean;
  /** Written `disabled`: an empty spare slot starts in maintenance. */
  readonly disabled: boolean;
  /** Health-checked (`check`). */
  readonly check: boolean;
  /** The stickiness cookie value of this server (`cookie <value>`), when the backend has one. */
  readonly cookie?: string;
}

/** Any other line inside a section: its text without the indentation, for example `timeout server 30s`. */
export interface DirectiveLine {
  readonly kind: 'directive';
  readonly text: string;
}

/** A comment inside a section, written `  # <text>` (not part of what HAProxy runs). */
export interface CommentLine {
  readonly kind: 'comment';
  readonly text: string;
}

export type ConfigLine = ServerLine | DirectiveLine | CommentLine;

/** The kinds of section the renderer writes. */
export type SectionKind = 'global' | 'defaults' | 'userlist' | 'frontend' | 'backend';

/** One section: its kind and name (`backend app`, `global`) and its lines in order. */
export interface TypedSection {
  readonly kind: SectionKind;
  /** Absent for `global` and `defaults`. */
  readonly name?: string;
  readonly lines: readonly ConfigLine[];
}

/** The section's opening line: `backend app`, `global`. */
export function sectionHeader(s: Pick<TypedSection, 'kind' | 'name'>): string {
  return s.name === undefined ? s.kind : `${s.kind} ${s.name}`;
}

/**
 * What a file beside the config is for:
 * - `switches`: `switch backend` lines (blue/green; flipped with `set map`);
 * - `split`: `lo:hi backend` bucket ranges of one weighted split;
 * - `run`: the keys of a run of same-shaped routes (src/render/maps.ts), or a split's sticky map;
 * - `crt-list`: the certificates of a TLS bind (src/render/tls.ts): read at start only, no map.
 */
export type MapRole = 'switches' | 'split' | 'run' | 'crt-list';
/** How HAProxy matches the map: exact keys (map_str), longest match (map_beg, map_ip), integer ranges (map_int). */
export type MapMatch = 'exact' | 'longest' | 'range';

/** One `key value` line of a map file. */
export interface MapFileEntry {
  readonly key: string;
  readonly value: string;
}

/** One file the config refers to as `<mapDir>/<name>`, with its content. */
export interface MapFile {
  /** File name inside the map directory, for example `web.run-2.map`. */
  readonly name: string;
  readonly content: string;
  /** A map's lines as data, in file order (what `content` lists); absent for a crt-list. */
  readonly entries?: readonly MapFileEntry[];
  readonly role: MapRole;
  readonly match: MapMatch;
  /** What the file is, in the user's terms: `switches`, `web/gradual-rollout`, `web.run-1.map`. */
  readonly subject: string;
}

export interface HaproxyConfig {
  /** The header comment lines (without `# `): the spec hash, cluster and node. */
  readonly preamble: readonly string[];
  readonly sections: readonly TypedSection[];
  /** The map directory the config refers to, without a trailing `/`. */
  readonly mapDir: string;
  /** Every map file and crt-list the config refers to, sorted by name. */
  readonly maps: readonly MapFile[];
}

/** The text of one server line (without indentation). */
export function serverLineText(s: ServerLine): string {
  return `server ${s.name} ${s.address}:${s.port} weight ${s.weight}${serverOptions(s)}`;
}

/** What follows `weight <n>` on a server line: the part the Runtime API cannot change. */
export function serverOptions(s: ServerLine): string {
  return `${s.backup ? ' backup' : ''}${s.disabled ? ' disabled' : ''}${s.check ? ' check' : ''}${s.cookie === undefined ? '' : ` cookie ${s.cookie}`}`;
}

/** The text of one line inside a section (without indentation). */
export function lineText(line: ConfigLine): string {
  switch (line.kind) {
    case 'server':
      return serverLineText(line);
    case 'directive':
      return line.text;
    case 'comment':
      return `# ${line.text}`;
  }
}

/** The one serializer: the haproxy.cfg text of a typed config (sections apart by an empty line). */
export function serializeHaproxyConfig(config: Pick<HaproxyConfig, 'preamble' | 'sections'>): string {
  const blocks = [config.preamble.map((c) => `# ${c}`), ...config.sections.map((s) => [sectionHeader(s), ...s.lines.map((l) => `  ${lineText(l)}`)])];
  return `${blocks.map((b) => b.join('\n')).join('\n\n')}\n`;
}

/** The backend section named `name`, if any. */
export function backendSection(config: Pick<HaproxyConfig, 'sections'>, name: string): TypedSection | undefined {
  return config.sections.find((s) => s.kind === 'backend' && s.name === name);
}
