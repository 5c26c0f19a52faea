import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRegexSubset } from '../../src/speclang/regex-subset.js';

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

void test('what JavaScript accepts and PCRE2 (HAProxy) refuses is rejected, naming the rule', () => {
  const cases: [string, RegExp][] = [
    ['^[\\w-.]+$', /'-' next to \\w inside \[\.\.\.\]: PCRE2 \(HAProxy\) rejects a range that starts or ends with a class escape/],
    ['[\\d-z]', /'-' next to \\d/],
    ['[a-\\s]', /'-' next to \\s/],
    ['a{65536}', /repeats 65536 times in \{65536\}; PCRE2 \(HAProxy\) allows at most 65535/],
    ['x{2,70000}', /repeats 70000 times/],
    [`${'('.repeat(33)}a${')'.repeat(33)}`, /nests groups more than 32 deep/],
    ['(ab){5000}', /too large to compile in PCRE2/],
    ['((ab){100}){100}', /too large to compile in PCRE2/],
  ];
  for (const [p, why] of cases) assert.match(checkRegexSubset(p) ?? 'accepted', why, p);
  // The same constructs where both engines agree stay accepted.
  for (const p of ['^[\\w.-]+$', '[-\\d]', '[\\d\\-z]', 'a{65535}', `${'('.repeat(32)}a${')'.repeat(32)}`, '(ab){1000}', '[\\\\d-z]']) assert.equal(checkRegexSubset(p), undefined, p);
});
