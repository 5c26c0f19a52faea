import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseXml, xmlChild, xmlItems, xmlText } from '../../src/util/xml.js';

void test('xml: an EC2 answer read into elements: names without prefixes, text with entities and character references, CDATA, empty and self-closing elements', () => {
  const root = parseXml(`\ufeff<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<DescribeRouteTablesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r-1</requestId>
  <routeTableSet>
    <item><routeTableId>rtb-1</routeTableId><tagSet><item><key>Name</key><value>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x263A;</value></item></tagSet></item>
    <item a="1" b='x>y'><routeTableId>rtb-2</routeTableId><tagSet/><x:note xmlns:x="urn:x"><![CDATA[<not & parsed>]]></x:note><empty></empty></item>
  </routeTableSet>
  <nextToken/>
</DescribeRouteTablesResponse>
`);
  assert.equal(root.name, 'DescribeRouteTablesResponse');
  assert.equal(xmlText(root, 'requestId'), 'r-1');
  const items = xmlItems(root, 'routeTableSet');
  assert.deepEqual(items.map((i) => xmlText(i, 'routeTableId')), ['rtb-1', 'rtb-2']);
  assert.equal(xmlText(xmlItems(items[0], 'tagSet')[0], 'value'), 'a & b <c> "d" \'e\' \u00e9\u263a');
  assert.deepEqual(xmlItems(items[1], 'tagSet'), []);
  assert.equal(xmlText(items[1], 'note'), '<not & parsed>');
  assert.equal(xmlText(items[1], 'empty'), '');
  assert.equal(xmlText(root, 'nextToken'), '');
  assert.equal(xmlText(root, 'missing'), undefined);
  assert.equal(xmlChild(undefined, 'x'), undefined);
  assert.deepEqual(xmlItems(root, 'missing'), []);
});

void test('xml: anything malformed is refused with the offset and what is wrong; a document type declaration is never expanded', () => {
  const cases: [string, RegExp][] = [
    ['', /no root element/],
    ['<a><b></a>', /<\/a> does not close <b>/],
    ['<a>', /<a> is not closed/],
    ['<a></a><b></b>', /a second root element/],
    ['text<a/>', /text outside the root element/],
    ['<a>&bogus;</a>', /an unknown entity "&bogus;"/],
    ['<a>&#0;</a>', /an unknown entity/],
    ['<a>AT&T</a>', /an unterminated entity reference/],
    ['<a b=1></a>', /a malformed attribute in <a>/],
    ['<!DOCTYPE a [<!ENTITY x "xx">]><a>&x;</a>', /a document type declaration \(not accepted\)/],
    ['<a><!-- open</a>', /an unterminated comment/],
    ['< a/>', /a "<" that starts no element/],
    [`${'<a>'.repeat(101)}${'</a>'.repeat(101)}`, /nested deeper than 100/],
  ];
  for (const [source, message] of cases) {
    assert.throws(() => parseXml(source), (err: unknown) => err instanceof Error && /^malformed XML at offset \d+: /.test(err.message) && message.test(err.message), source);
  }
});
