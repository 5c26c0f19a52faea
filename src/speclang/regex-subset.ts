/**
 * The regular expressions a spec may use: the subset on which PCRE2 (HAProxy `-m reg`) and
 * JavaScript (`explain`, tests) agree, so both evaluate a route the same way.
 */

/** What the subset allows, for messages. */
export const REGEX_SUBSET_RULE =
  'allowed: literal characters, ., [...] and [^...], \\d \\w \\s \\b (and their upper-case forms), escaped punctuation such as \\. or \\/, ^ and $, groups (...) and (?:...), | and the quantifiers * + ? {m} {m,} {m,n} (optionally lazy with ?)';

const CLASS_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S']);
const OUTSIDE_ESCAPES = new Set([...CLASS_ESCAPES, 'b', 'B']);

function isPunct(ch: string): boolean {
  return /^[!-/:-@[-`{-~]$/.test(ch);
}

function describeEscape(ch: string): string {
  if (ch === 'p' || ch === 'P') return 'Unicode property escapes (\\p{...})';
  if (ch === 'u' || ch === 'x') return `\\${ch} character escapes`;
  if (ch === 'k') return 'named backreferences (\\k<...>)';
  if (/[0-9]/.test(ch)) return `backreferences or octal escapes (\\${ch})`;
  return `the escape \\${ch}`;
}

/**
 * Checks `pattern` against the subset; returns a message fragment naming the first construct
 * outside it (or the JavaScript compile error), or undefined when the pattern is fine.
 */
export function checkRegexSubset(pattern: string): string | undefined {
  // The subset scan first: it names the construct, where the engine would only say "invalid".
  const why = scanSubset(pattern);
  if (why !== undefined) return why;
  try {
    new RegExp(pattern);
  } catch (e) {
    return `does not compile: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  return undefined;
}

/** PCRE2's largest repeat count (`{m,n}`): "number too big in {} quantifier" above it. */
export const MAX_REPEAT = 65535;
/** Deepest group nesting allowed (PCRE2 stops at 250; explain's engine recurses per group). */
export const MAX_GROUP_DEPTH = 32;
/**
 * Budget of the compiled-size estimate below. PCRE2 (built with 2-byte links, as Debian's) refuses
 * a pattern whose compiled form exceeds 65535 code units ("regular expression is too large");
 * the estimate over-counts every construct, and the budget leaves a factor of 3 on top.
 */
export const MAX_COMPILED_ESTIMATE = 20_000;

// Per-construct upper bounds of PCRE2's compiled size (code units): a literal 2, a class 33,
// a group's brackets 6, an alternation 3, a quantified single item a count opcode. A repeated
// group is compiled as one copy per repetition (plus a bracket for each optional copy).
const COST = { literal: 3, class: 40, anchor: 1, group: 8, alternation: 4, quantified: 8, optionalCopy: 4 } as const;

interface Frame {
  cost: number;
  /** The last atom of this frame, for a quantifier: its cost and whether it is a group. */
  last: { readonly cost: number; readonly group: boolean } | undefined;
}

function repeated(atom: { readonly cost: number; readonly group: boolean }, min: number, max: number | undefined): number {
  if (!atom.group) return atom.cost + COST.quantified;
  const copies = max === undefined ? min + 1 : Math.max(max, 1);
  return (atom.cost + COST.optionalCopy) * copies;
}

function isClassEscapeAt(pattern: string, j: number): boolean {
  return pattern[j] === '\\' && CLASS_ESCAPES.has(pattern[j + 1] ?? '');
}

function scanSubset(pattern: string): string | undefined {
  if (pattern.includes(' ')) return `contains a space, which a regex may not contain (the config would split there); match a space with \\s`;
  const stack: Frame[] = [{ cost: 0, last: undefined }];
  const top = (): Frame => stack[stack.length - 1] ?? { cost: 0, last: undefined };
  const atom = (cost: number, group = false): void => {
    const f = top();
    f.cost += cost;
    f.last = { cost, group };
  };
  const quantify = (min: number, max: number | undefined): void => {
    const f = top();
    if (f.last === undefined) return;
    f.cost += repeated(f.last, min, max) - f.last.cost;
    f.last = undefined;
  };
  let i = 0;
  let lastWasAtom = false;
  while (i < pattern.length) {
    const ch = pattern[i] ?? '';
    const next = pattern[i + 1] ?? '';
    if (ch === '\\') {
      if (OUTSIDE_ESCAPES.has(next) || isPunct(next)) {
        i += 2;
        lastWasAtom = next !== 'b' && next !== 'B';
        if (lastWasAtom) atom(COST.literal);
        else top().last = undefined;
        continue;
      }
      return `uses ${describeEscape(next)}, outside the supported subset; ${REGEX_SUBSET_RULE}`;
    }
    if (ch === '[') {
      let j = i + 1;
      if (pattern[j] === '^') j++;
      const first = j;
      if (pattern[j] === ']') return `has an empty or ']'-first character class, which PCRE2 and JavaScript read differently; escape it as \\]; ${REGEX_SUBSET_RULE}`;
      let prevClassEscape = false;
      for (; j < pattern.length && pattern[j] !== ']'; j++) {
        const c = pattern[j] ?? '';
        if (c === '[' && pattern[j + 1] === ':') return `uses a POSIX class ([:...:]), outside the supported subset; use \\d, \\w, \\s or a range such as a-z; ${REGEX_SUBSET_RULE}`;
        if (c === '\\') {
          const e = pattern[j + 1] ?? '';
          if (!CLASS_ESCAPES.has(e) && !isPunct(e)) return `uses ${describeEscape(e)} inside [...], outside the supported subset; ${REGEX_SUBSET_RULE}`;
          prevClassEscape = CLASS_ESCAPES.has(e);
          j++;
          continue;
        }
        if (c === '-' && j > first && j + 1 < pattern.length && pattern[j + 1] !== ']' && (prevClassEscape || isClassEscapeAt(pattern, j + 1))) {
          // PCRE2 refuses a range with a class escape at either end ("invalid range in character
          // class"); JavaScript reads that '-' as a literal. Both read an escaped \- the same way.
          const escape = prevClassEscape ? pattern.slice(j - 2, j) : pattern.slice(j + 1, j + 3);
          return `uses '-' next to ${escape} inside [...]: PCRE2 (HAProxy) rejects a range that starts or ends with a class escape ("invalid range in character class") while JavaScript reads the '-' as a literal; escape it as \\- or put it last in the class`;
        }
        prevClassEscape = false;
      }
      i = j + 1;
      lastWasAtom = true;
      atom(COST.class);
      continue;
    }
    if (ch === '(') {
      if (next === '?') {
        const kind = pattern[i + 2] ?? '';
        if (kind !== ':') {
          const what =
            kind === '<' && (pattern[i + 3] === '=' || pattern[i + 3] === '!') ? 'a lookbehind ((?<=...) or (?<!...))'
            : kind === '<' || kind === 'P' || kind === "'" ? 'a named group'
            : kind === '=' || kind === '!' ? 'a lookahead ((?=...) or (?!...))'
            : kind === '>' ? 'an atomic group ((?>...))'
            : 'inline flags or another (?...) construct';
          return `uses ${what}, outside the supported subset; ${REGEX_SUBSET_RULE}`;
        }
        i += 3;
      } else i++;
      stack.push({ cost: 0, last: undefined });
      if (stack.length - 1 > MAX_GROUP_DEPTH) return `nests groups more than ${MAX_GROUP_DEPTH} deep; at most ${MAX_GROUP_DEPTH} levels are allowed (PCRE2 stops at 250): flatten the groups`;
      lastWasAtom = false;
      continue;
    }
    if (ch === ')') {
      const inner = stack.length > 1 ? stack.pop() : undefined;
      atom((inner?.cost ?? 0) + COST.group, true);
      lastWasAtom = true;
      i++;
      continue;
    }
    if (ch === '{') {
      const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(pattern.slice(i));
      if (m === null || !lastWasAtom) return `has a '{' that is not a quantifier {m}, {m,} or {m,n}; escape a literal brace as \\{; ${REGEX_SUBSET_RULE}`;
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
      const big = Math.max(min, max ?? 0);
      if (big > MAX_REPEAT) return `repeats ${big} times in ${m[0]}; PCRE2 (HAProxy) allows at most ${MAX_REPEAT} ("number too big in {} quantifier"): lower the count or use + or *`;
      i += m[0].length;
      if (pattern[i] === '+') return `uses a possessive quantifier (${m[0]}+), outside the supported subset; ${REGEX_SUBSET_RULE}`;
      if (pattern[i] === '?') i++;
      quantify(min, max);
      lastWasAtom = false;
      continue;
    }
    if (ch === '*' || ch === '+' || ch === '?') {
      if (next === '+') return `uses a possessive quantifier (${ch}+), outside the supported subset; ${REGEX_SUBSET_RULE}`;
      i += next === '?' ? 2 : 1;
      quantify(ch === '+' ? 1 : 0, ch === '?' ? 1 : undefined);
      lastWasAtom = false;
      continue;
    }
    if (ch === ']' || ch === '}') return `has an unescaped '${ch}'; escape it as \\${ch}`;
    lastWasAtom = ch !== '|' && ch !== '^' && ch !== '$';
    if (ch === '|') {
      top().cost += COST.alternation;
      top().last = undefined;
    } else if (lastWasAtom) atom(COST.literal);
    else {
      top().cost += COST.anchor;
      top().last = undefined;
    }
    i++;
  }
  const estimate = stack.reduce((a, f) => a + f.cost, 0);
  if (estimate > MAX_COMPILED_ESTIMATE) {
    return `is too large to compile in PCRE2 (HAProxy), whose compiled form of a regex holds 65535 units: its repetitions and classes come to about ${estimate} units, at most ${MAX_COMPILED_ESTIMATE} are allowed; lower the repeat counts of groups ((...){n} is compiled as n copies) or split the route`;
  }
  return undefined;
}
