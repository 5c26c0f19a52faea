import { loadSpecFile } from '../../ops/load-spec.js';
import { explainRequest } from '../../model/explain.js';
import { explainSni, type SniExplanation } from '../../speclang/tls-names.js';
import type { ExplainRequest, ExplainResult } from '../../model/explain.js';
import { UserError } from '../../util/errors.js';
import { parseCommandArgs, onePositional } from '../args.js';
import { EXIT } from '../io.js';
import type { CliIo } from '../io.js';

export const explainHelp = `Usage: overlay-lb explain SPEC [--header 'Name: value']... [--cookie NAME=VALUE]... [--host H] [--path P]
                           [--method M] [--source IP] [--frontend NAME] [--sni NAME] [--json]

Tells which backend a request reaches and which route matched, from the reference evaluator of
the spec's routing semantics (the same semantics the compiled HAProxy config implements), or that
HAProxy answers the request itself with 400 (a space before a header's colon, '#' or a non-ASCII
character in the path...). Regexes match bytes as HAProxy's do (UTF-8, no Unicode classes).

  --header 'Name: value'   a request header (repeatable, in order)
  --cookie NAME=VALUE      a request cookie (repeatable; sent as one Cookie header after the
                           --header ones): shows the side or server a stickiness cookie means
  --host H                 the Host header (default: none)
  --path P                 the request path, query allowed (default: /)
  --method M               default GET
  --source IP              the client address (default 10.0.0.100)
  --frontend NAME          default: the first http frontend
  --sni NAME               also tell which certificate each TLS bind serves for this server name
  --json                   machine-readable result`;

export async function runExplain(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs('explain', argv, {
    header: { type: 'string', multiple: true },
    cookie: { type: 'string', multiple: true },
    host: { type: 'string' },
    path: { type: 'string' },
    method: { type: 'string' },
    source: { type: 'string' },
    frontend: { type: 'string' },
    sni: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return (io.out(explainHelp), EXIT.ok);
  const file = onePositional('explain', positionals, 'spec');
  const { spec } = await loadSpecFile(file, { signal });
  const cookies = (values.cookie ?? []).map(parseCookieArg);
  const headers = [...(values.header ?? []).map(parseHeaderArg), ...(cookies.length === 0 ? [] : [{ name: 'Cookie', value: cookies.join('; ') }])];
  const request: ExplainRequest = {
    method: values.method ?? 'GET',
    path: values.path ?? '/',
    ...(values.host !== undefined ? { host: values.host } : {}),
    headers,
    source: values.source ?? '10.0.0.100',
  };
  const result = explainRequest(spec, request, values.frontend !== undefined ? { frontend: values.frontend } : {});
  const tls = values.sni === undefined ? undefined : explainSni(spec, values.sni);
  io.out(values.json ? JSON.stringify({ request, ...result, ...(tls === undefined ? {} : { tls }) }) : formatExplain(request, result) + (tls === undefined ? '' : formatSni(values.sni ?? '', tls)));
  return EXIT.ok;
}

function parseHeaderArg(arg: string): { name: string; value: string } {
  const i = arg.indexOf(':');
  if (i <= 0) throw new UserError('CLI_USAGE', `explain: --header ${JSON.stringify(arg)} is not 'Name: value'; for example --header 'X-Canary: 1'`);
  // The name exactly as typed: 'X-Canary : 1' has a space before the colon, which HAProxy answers
  // with 400 (and so does explain). The value loses spaces and tabs around it, as in HTTP, and
  // nothing else (a non-breaking space is part of the value).
  return { name: arg.slice(0, i), value: arg.slice(i + 1).replace(/^[ \t]+|[ \t]+$/g, '') };
}

/** `--cookie NAME=VALUE`: a cookie name (a token) and a value that cannot end the pair early. */
function parseCookieArg(arg: string): string {
  const i = arg.indexOf('=');
  const name = i < 0 ? '' : arg.slice(0, i);
  const value = i < 0 ? '' : arg.slice(i + 1);
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[;,\r\n\0]/.test(value)) {
    throw new UserError('CLI_USAGE', `explain: --cookie ${JSON.stringify(arg)} is not NAME=VALUE with a token name and a value without ';', ',' or line breaks; for example --cookie olb-web=app-canary`);
  }
  return `${name}=${value}`;
}

/** Human-readable explanation, one fact a line. */
export function formatExplain(request: ExplainRequest, r: ExplainResult): string {
  const lines = [
    `request   ${request.method} ${request.path}${request.host !== undefined ? ` host=${request.host}` : ''} source=${request.source}${request.headers.map((h) => ` [${h.name}: ${h.value}]`).join('')}`,
    `frontend  ${r.frontend}`,
  ];
  if (r.rejected !== undefined) {
    lines.push(`result    HAProxy rejects this request with ${r.rejected.status} Bad Request: ${r.rejected.reason}`);
    return lines.join('\n');
  }
  lines.push(`route     ${r.route ? `#${r.route.index + 1} ${r.route.name}` : '(none matched: default backend)'}`);
  if (r.split) {
    const sides = r.split.sides.map((s) => `${s.backend} ${s.weight}%`).join(' / ');
    const st = r.split.sticky;
    const sticky = st ? `sticky ${st.kind} ${st.name}=${st.value ?? '(absent: random side)'}` : 'no sticky key: random side';
    const ck = r.split.stickyCookie;
    const how = ck === undefined ? sticky : ck.side !== null ? `cookie ${ck.name}=${ck.side}: that side` : `cookie ${ck.name} ${ck.value === null ? 'absent' : `${ck.value} names no side`}: random side`;
    lines.push(`split     ${sides}; ${how}${r.split.bucket !== null ? `, bucket ${r.split.bucket}` : ''}`);
    if (ck?.setCookie != null) lines.push(`response  set Set-Cookie: ${ck.setCookie}`);
  }
  if (r.answer?.kind === 'redirect') lines.push(`answer    redirect ${r.answer.status} to ${r.answer.location}`);
  else if (r.answer?.kind === 'respond') {
    const body = r.answer.body !== undefined ? ` body ${JSON.stringify(r.answer.body)}` : r.answer.bodyFile !== undefined ? ` body from ${r.answer.bodyFile}` : '';
    lines.push(`answer    fixed response ${r.answer.status}${r.answer.contentType === undefined ? '' : ` ${r.answer.contentType}`}${body}`);
  } else lines.push(`backend   ${r.backend ?? '(random by weight)'}`);
  const rewrite = (x: { op: string; name: string; value?: string }): string => (x.op === 'remove' ? `remove ${x.name}` : `${x.op} ${x.name}: ${x.value ?? ''}`);
  for (const x of r.requestHeaders ?? []) lines.push(`request   ${rewrite(x)}`);
  for (const x of r.responseHeaders ?? []) lines.push(`response  ${rewrite(x)}`);
  if (r.timeoutMs !== undefined) lines.push(`timeout   ${r.timeoutMs} ms (the backend's answer)`);
  const bc = r.backendCookie;
  if (bc !== undefined) {
    lines.push(bc.server !== null ? `server    ${bc.server} (cookie ${bc.name}, while it is up)` : `server    balanced (cookie ${bc.name} ${bc.value === null ? 'absent' : `${bc.value} names no server`})`);
    if (bc.setCookie !== null) lines.push(`response  set Set-Cookie: ${bc.setCookie}`);
  }
  if (r.reasons.length > 0) lines.push('why:', ...r.reasons.map((x) => `  ${x}`));
  return lines.join('\n');
}

/** `tls` lines of `explain --sni`: one per TLS bind. */
function formatSni(sni: string, binds: readonly SniExplanation[]): string {
  if (binds.length === 0) return `\ntls       no TLS bind in the spec for server name ${JSON.stringify(sni)}`;
  return binds.map((b) => `\ntls       ${b.frontend} ${b.bind} sni=${JSON.stringify(sni)}: ${b.certificate ?? '(chosen by haproxy)'} (${b.why})`).join('');
}
