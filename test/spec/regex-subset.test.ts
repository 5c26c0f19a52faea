import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRegexSubset } from '../../src/spec/regex-subset.js';

void test('patterns in the PCRE2/JavaScript common subset are accepted', () => {
  for (const p of ['^/api/v[0-9]+/', 'a|b', '(?:x|y)+z?', '\\d{2,4}\\.\\w*', '[^/]+\\/[a-z-]{1}', '^\\$x$', 'a.*?b', '\\bword\\b', '[\\d\\s._-]', 'x{3,}']) {
    assert.equal(checkRegexSubset(p), undefined, p);
  }
});

void test('constructs outside the subset are rejected with the reason', () => {
  const cases: [string, RegExp][] = [
    ['(?<=a)b', /lookbehind/],
    ['(?<!a)b', /lookbehind/],
    ['(?=a)', /lookahead/],
    ['(?<name>a)', /named group/],
    ['(a)\\1', /backreference/],
    ['\\p{L}', /Unicode property/],
    ['\\u0041', /\\u character escapes/],
    ['\\x41', /\\x character escapes/],
    ['(?i)abc', /inline flags/],
    ['a++', /possessive/],
    ['(?>a)', /atomic/],
    ['a b', /space/],
    ['[[:alpha:]]', /POSIX/],
    ['[]a]', /empty or '\]'-first/],
    ['a{,3}', /not a quantifier/],
    ['a}', /unescaped '}'/],
    ['(a', /does not compile/],
    ['\\A', /escape \\A/],
  ];
  for (const [p, why] of cases) assert.match(checkRegexSubset(p) ?? 'accepted', why, p);
});
