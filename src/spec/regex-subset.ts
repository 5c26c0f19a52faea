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

function scanSubset(pattern: string): string | undefined {
  if (pattern.includes(' ')) return `contains a space, which a regex may not contain (the config would split there); match a space with \\s`;
  let i = 0;
  let lastWasAtom = false;
  while (i < pattern.length) {
    const ch = pattern[i] ?? '';
    const next = pattern[i + 1] ?? '';
    if (ch === '\\') {
      if (OUTSIDE_ESCAPES.has(next) || isPunct(next)) {
        i += 2;
        lastWasAtom = next !== 'b' && next !== 'B';
        continue;
      }
      return `uses ${describeEscape(next)}, outside the supported subset; ${REGEX_SUBSET_RULE}`;
    }
    if (ch === '[') {
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') return `has an empty or ']'-first character class, which PCRE2 and JavaScript read differently; escape it as \\]; ${REGEX_SUBSET_RULE}`;
      for (; j < pattern.length && pattern[j] !== ']'; j++) {
        const c = pattern[j] ?? '';
        if (c === '[' && pattern[j + 1] === ':') return `uses a POSIX class ([:...:]), outside the supported subset; use \\d, \\w, \\s or a range such as a-z; ${REGEX_SUBSET_RULE}`;
        if (c === '\\') {
          const e = pattern[j + 1] ?? '';
          if (!CLASS_ESCAPES.has(e) && !isPunct(e)) return `uses ${describeEscape(e)} inside [...], outside the supported subset; ${REGEX_SUBSET_RULE}`;
          j++;
        }
      }
      i = j + 1;
      lastWasAtom = true;
      continue;
    }
    if (ch === '(') {
      if (next === '?') {
        const kind = pattern[i + 2] ?? '';
        if (kind === ':') {
          i += 3;
          lastWasAtom = false;
          continue;
        }
        const what =
          kind === '<' && (pattern[i + 3] === '=' || pattern[i + 3] === '!') ? 'a lookbehind ((?<=...) or (?<!...))'
          : kind === '<' || kind === 'P' || kind === "'" ? 'a named group'
          : kind === '=' || kind === '!' ? 'a lookahead ((?=...) or (?!...))'
          : kind === '>' ? 'an atomic group ((?>...))'
          : 'inline flags or another (?...) construct';
        return `uses ${what}, outside the supported subset; ${REGEX_SUBSET_RULE}`;
      }
      i++;
      lastWasAtom = false;
      continue;
    }
    if (ch === '{') {
      const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(pattern.slice(i));
      if (m === null || !lastWasAtom) return `has a '{' that is not a quantifier {m}, {m,} or {m,n}; escape a literal brace as \\{; ${REGEX_SUBSET_RULE}`;
      i += m[0].length;
      if (pattern[i] === '+') return `uses a possessive quantifier (${m[0]}+), outside the supported subset; ${REGEX_SUBSET_RULE}`;
      if (pattern[i] === '?') i++;
      lastWasAtom = false;
      continue;
    }
    if (ch === '*' || ch === '+' || ch === '?') {
      if (next === '+') return `uses a possessive quantifier (${ch}+), outside the supported subset; ${REGEX_SUBSET_RULE}`;
      i += next === '?' ? 2 : 1;
      lastWasAtom = false;
      continue;
    }
    if (ch === ']' || ch === '}') return `has an unescaped '${ch}'; escape it as \\${ch}`;
    lastWasAtom = ch !== '|' && ch !== '^' && ch !== '$';
    if (ch === ')') lastWasAtom = true;
    i++;
  }
  return undefined;
}
