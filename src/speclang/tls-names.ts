/**
 * TLS server names (SNI) as the spec writes them for `tls.sni[].names`, and the choice of a
 * certificate for a name, written once for `explain` and checked against HAProxy by the
 * end-to-end test (test/haproxy/tls.test.ts).
 *
 * HAProxy 2.6 (ssl_sock.c `ssl_sock_switchctx_cbk`) lower-cases the name the client sends, looks
 * it up exactly, then as a wildcard: `*.example.com` stands for exactly one label in front of
 * `example.com` (not `example.com` itself, not `a.b.example.com`); without a match the bind's
 * default certificate answers. Names are written in lower case so what the spec says is what
 * HAProxy compares.
 */
import type { Spec } from '../model/spec.js';
import type { Problem, StringCheck } from './strings.js';
import { checkPrintable } from './strings.js';
import { quoteForMessage } from './names.js';

/** One DNS label: letters, digits and inner '-', at most 63 characters. */
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** A lower-case DNS name, optionally `*.` + name; at most 253 characters (checked separately). */
export const SNI_NAME_RE = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);

/** Checks one `tls.sni[].names` entry: a lower-case DNS name or `*.` + one. */
export const sniNameCheck: StringCheck = (v): Problem | undefined => {
  const bad = checkPrintable(v);
  if (bad !== undefined) return bad;
  if (v.length > 253) return { code: 'SPEC_FORMAT', message: `${quoteForMessage(v.slice(0, 40))}... is ${v.length} characters long; a server name has at most 253` };
  if (SNI_NAME_RE.test(v)) return undefined;
  if (SNI_NAME_RE.test(v.toLowerCase())) return { code: 'SPEC_FORMAT', message: `${quoteForMessage(v)}: write server names in lower case (${quoteForMessage(v.toLowerCase())}); clients' names are compared in lower case` };
  return {
    code: 'SPEC_FORMAT',
    message: `${quoteForMessage(v)} is not a server name: use labels of letters, digits and '-' separated by '.', optionally starting with "*." for exactly one label (no port, no scheme), for example "api.example.com" or "*.example.com"`,
  };
};

/** How a name reached its certificate: an exact entry, a wildcard entry, or the default. */
export type SniChoice =
  | { readonly kind: 'exact'; readonly entry: number; readonly name: string; readonly certificate: string }
  | { readonly kind: 'wildcard'; readonly entry: number; readonly name: string; readonly certificate: string }
  | { readonly kind: 'default'; readonly certificate: string };

/**
 * The certificate HAProxy serves for the server name `sni` (undefined: the client sent none),
 * given a bind's explicit entries and default certificate.
 */
export function chooseSniCertificate(sni: string | undefined, entries: readonly { readonly names: readonly string[]; readonly certificate: string }[], defaultCertificate: string): SniChoice {
  if (sni !== undefined && sni !== '') {
    const name = sni.toLowerCase();
    const exact = entries.findIndex((e) => e.names.includes(name));
    const hit = entries[exact];
    if (hit !== undefined) return { kind: 'exact', entry: exact, name, certificate: hit.certificate };
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = `*${name.slice(dot)}`;
      const w = entries.findIndex((e) => e.names.includes(wild));
      const whit = entries[w];
      if (whit !== undefined) return { kind: 'wildcard', entry: w, name: wild, certificate: whit.certificate };
    }
  }
  return { kind: 'default', certificate: defaultCertificate };
}

/** What one TLS bind serves for a server name, for `explain --sni`. */
export interface SniExplanation {
  readonly frontend: string;
  /** `address:port` as the spec writes it (`vip:443`). */
  readonly bind: string;
  /** The certificate file, or null when HAProxy picks by the names inside the files (`certificates`). */
  readonly certificate: string | null;
  readonly why: string;
}

/** For every TLS bind of the spec: the certificate it serves for `sni` (undefined: no name sent). */
export function explainSni(spec: Spec, sni: string | undefined): SniExplanation[] {
  const out: SniExplanation[] = [];
  for (const fe of spec.frontends) {
    for (const b of fe.binds) {
      if (b.tls === undefined) continue;
      const bind = `${b.address}:${b.port}`;
      const byName = b.tls.sni;
      if (byName === undefined) {
        out.push({ frontend: fe.name, bind, certificate: null, why: `HAProxy picks among ${b.tls.certificates.join(', ')} by the names inside the files (not visible to explain); when none matches, the first one` });
        continue;
      }
      const c = chooseSniCertificate(sni, byName.entries, byName.defaultCertificate);
      const why = c.kind === 'default'
        ? (sni === undefined || sni === '' ? 'no server name sent: the default certificate' : `no entry lists ${sni.toLowerCase()}: the default certificate`)
        : `sni[${c.entry}] lists ${c.kind === 'exact' ? 'it' : `the wildcard ${c.name}`}`;
      out.push({ frontend: fe.name, bind, certificate: c.certificate, why });
    }
  }
  return out;
}
