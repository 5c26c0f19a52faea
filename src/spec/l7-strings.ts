/**
 * String checks of the layer-7 conditions and actions added for issue 21 (query-string and cookie
 * conditions; redirects, fixed responses, header rewrites, LB-issued cookies). Kept beside
 * `strings.ts` (same contract: a problem naming the value, what is allowed and the fix, or
 * undefined) so the two can evolve without touching each other.
 */
import { quoteForMessage } from './names.js';
import { all, matchValueCheck, type Problem, type StringCheck } from './strings.js';

const problem = (code: Problem['code'], message: string): Problem => ({ code, message });

/** A query-string key: what HAProxy's `url_param(<key>)` can take as a bare argument. */
export const QUERY_KEY_RE = /^[A-Za-z0-9_.~-]{1,128}$/;

/** A query-string parameter key (compared case-sensitively, as received). */
export const queryKeyCheck: StringCheck = all(matchValueCheck, (v) =>
  QUERY_KEY_RE.test(v)
    ? undefined
    : problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a valid query-string key: use 1-128 of letters, digits, '_', '.', '~' and '-' (keys are compared as received, without percent-decoding)`),
);

/**
 * The value of an `exact` or `prefix` query condition. Compared as received (no percent-decoding),
 * so a character that never appears in a received value is refused with the encoding to use.
 */
export const queryValueCheck: StringCheck = all(matchValueCheck, (v) => {
  const bad = /[ &;?#]/.exec(v);
  if (bad === null) return undefined;
  const why =
    bad[0] === ' '
      ? "a request never carries a space in its query string: write it as clients send it, %20 (or '+' from an HTML form)"
      : bad[0] === '#'
        ? "'#' starts the fragment, which clients never send: write it as %23"
        : `'${bad[0]}' ends a parameter's value (HAProxy's url_param splits at '&', ';' and '?'), so no value contains it: write it as clients send it, ${bad[0] === '&' ? '%26' : bad[0] === ';' ? '%3B' : '%3F'}`;
  return problem('SPEC_FORMAT', `query value ${quoteForMessage(v)} can never match: ${why} (values are compared as received, without percent-decoding)`);
});

/** The value of an `exact` or `prefix` cookie condition (a cookie value ends at ';' or ','). */
export const cookieValueCheck: StringCheck = all(matchValueCheck, (v) => {
  const bad = /[;,"]/.exec(v);
  if (bad !== null) return problem('SPEC_FORMAT', `cookie value ${quoteForMessage(v)} can never match: a cookie value contains no '${bad[0]}' (it separates cookies or quotes a value): remove it`);
  if (/^[ \t]|[ \t]$/.test(v)) return problem('SPEC_FORMAT', `cookie value ${quoteForMessage(v)} can never match: spaces around a cookie value are dropped: remove them`);
  return undefined;
});
