import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asInteger, JsonError, ObjectReader, parseJson } from '../../../src/image/signature/json.ts';

describe('strict JSON: values', () => {
  const ok: ReadonlyArray<[string, unknown]> = [
    ['{"a":[1,-2.5e3,true,false,null,"x"]}', { a: [1, -2500, true, false, null, 'x'] }],
    ['"\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/"', 'é😀\n"\\/'],
    [' \t\r\n[] ', []],
    ['0', 0],
  ];
  const plain = (n: ReturnType<typeof parseJson>): unknown => {
    switch (n.kind) {
      case 'object':
        return Object.fromEntries([...n.members].map(([k, v]) => [k, plain(v)]));
      case 'array':
        return n.items.map(plain);
      case 'null':
        return null;
      default:
        return n.value;
    }
  };
  for (const [text, value] of ok) {
    it(`parses ${JSON.stringify(text)} as JSON.parse does`, () => {
      assert.deepEqual(plain(parseJson(text)), value);
      assert.deepEqual(plain(parseJson(new TextEncoder().encode(text))), JSON.parse(text));
    });
  }
});

describe('strict JSON: surrogate escapes, as Go decodes them', () => {
  const cases: ReadonlyArray<[string, string]> = [
    ['"\\ud800"', '\ufffd'],
    ['"\\udc00x"', '\ufffdx'],
    ['"\\ud800\\ud800\\udc00"', '\ufffd\u{10000}'],
    ['"\\ud83d\\ude00"', '😀'],
  ];
  for (const [text, value] of cases) {
    it(`${text} -> ${JSON.stringify(value)}`, () => {
      const node = parseJson(text);
      assert.equal(node.kind === 'string' && node.value, value);
    });
  }
  it('keys that differ only in lone surrogates are duplicates', () => {
    assert.throws(() => parseJson('{"\\ud800":1,"\\udfff":2}'), { code: 'JSON_DUPLICATE_KEY' });
  });
});

describe('strict JSON: errors', () => {
  const bad: ReadonlyArray<[string, string | Uint8Array, string]> = [
    ['duplicate key in a nested object', '{"a":{"b":1,"b":2}}', 'JSON_DUPLICATE_KEY'],
    ['trailing data', '{} {}', 'JSON_TRAILING_DATA'],
    ['trailing comma', '[1,]', 'JSON_SYNTAX'],
    ['single quotes', "{'a':1}", 'JSON_SYNTAX'],
    ['leading zero', '01', 'JSON_TRAILING_DATA'],
    ['bare word', 'nul', 'JSON_SYNTAX'],
    ['control character in a string', '"a\u0001"', 'JSON_SYNTAX'],
    ['invalid escape', '"\\x"', 'JSON_SYNTAX'],
    ['unterminated string', '"abc', 'JSON_SYNTAX'],
    ['empty input', '', 'JSON_SYNTAX'],
    ['invalid UTF-8', new Uint8Array([0x22, 0xff, 0x22]), 'JSON_SYNTAX'],
    ['nesting beyond the limit', `${'['.repeat(65)}${']'.repeat(65)}`, 'JSON_TOO_DEEP'],
    ['input beyond the size limit', `"${'a'.repeat(4 * 1024 * 1024)}"`, 'JSON_TOO_LARGE'],
  ];
  for (const [name, input, code] of bad) {
    it(`${name}: ${code}`, () => {
      assert.throws(
        () => parseJson(input),
        (err: unknown) => err instanceof JsonError && err.code === code,
      );
    });
  }

  it('accepts nesting at the limit', () => {
    assert.doesNotThrow(() => parseJson(`${'['.repeat(64)}${']'.repeat(64)}`));
  });

  it('reports line and column of the problem', () => {
    try {
      parseJson('{\n  "a": 1,\n  "a": 2\n}');
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof JsonError);
      assert.deepEqual(err.location, { pointer: '/a', line: 3, column: 3 });
    }
  });
});

describe('strict JSON: typed access', () => {
  it('ObjectReader reports the first member nobody took, with its pointer', () => {
    const r = new ObjectReader(parseJson('{"a":1,"b":{"c":2}}'));
    r.take('a');
    assert.throws(
      () => r.finish(['a']),
      (e: unknown) => e instanceof JsonError && e.code === 'JSON_UNKNOWN_KEY' && e.location.pointer === '/b',
    );
  });
  it('ObjectReader.required reports a missing key at the object', () => {
    const r = new ObjectReader(parseJson('{"a":1}'));
    assert.throws(() => r.required('z'), { code: 'JSON_MISSING_KEY' });
  });
  const integers: ReadonlyArray<[string, number | string]> = [
    ['1e3', 1000],
    ['-7', -7],
    ['0.5', 'JSON_INVALID_VALUE'],
    ['1e400', 'JSON_INVALID_VALUE'],
    ['"1"', 'JSON_WRONG_TYPE'],
  ];
  for (const [text, expected] of integers) {
    it(`asInteger(${text}) -> ${expected}`, () => {
      if (typeof expected === 'number') assert.equal(asInteger(parseJson(text)), expected);
      else assert.throws(() => asInteger(parseJson(text)), { code: expected });
    });
  }
});
