// The small TOML reader: what the runtimes' config files use, read; what it cannot read, refused with the line.
import t from 'tap';
import { parseToml, TomlError, tomlGet } from '../src/probes/runtime/toml.js';

t.test('tables with quoted, dotted keys hold their values', async (t) => {
  const doc = parseToml(
    `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  default_runtime_name = "runc"\n[plugins.'io.containerd.cri.v1.runtime']\nenable_criu = false\n`,
  );
  t.equal(tomlGet(doc, ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'default_runtime_name']), 'runc');
  t.equal(tomlGet(doc, ['plugins', 'io.containerd.cri.v1.runtime', 'enable_criu']), false);
  t.equal(doc.version, 2);
});

t.test('dotted keys in a table make sub-tables', async (t) => {
  t.same(parseToml('[a]\nb.c = 1\nb.d = "x"\n'), { a: { b: { c: 1, d: 'x' } } });
});

t.test('comments and blank lines are skipped, also after values', async (t) => {
  t.same(parseToml('# top\n\n[crio.runtime] # the table\nenable_criu_support = true # on\n'), {
    crio: { runtime: { enable_criu_support: true } },
  });
});

t.test('a comment on the last line, with no line end after it, ends the document', async (t) => {
  t.same(parseToml('a = 1\n# the end'), { a: 1 });
  t.same(parseToml('a = 1 # the end'), { a: 1 });
});

t.test('lines of comments still count toward the line an error names', async (t) => {
  t.throws(() => parseToml('# one\n# two, with a = in it\n\na = \n'), /line 4: a key without a value/);
});

t.test('strings: escapes, literal, multi-line basic with line-ending backslash, multi-line literal', async (t) => {
  const doc = parseToml(`a = "t\\tq\\"\\u00e9"\nb = 'C:\\raw'\nc = """\none \\\n   two"""\nd = '''\nx\ny'''\n`);
  t.same(doc, { a: 't\tq"é', b: 'C:\\raw', c: 'one two', d: 'x\ny' });
});

t.test('numbers: integers with underscores, hex, octal, floats, inf', async (t) => {
  t.same(parseToml('a = 1_000\nb = -3\nc = 0x1f\nd = 0o17\ne = 1.5e3\nf = +inf\n'), {
    a: 1000,
    b: -3,
    c: 31,
    d: 15,
    e: 1500,
    f: Infinity,
  });
});

t.test('arrays span lines, take comments and a trailing comma', async (t) => {
  t.same(parseToml('hooks_dir = [\n  "/usr/share/containers/oci/hooks.d", # one\n  "/etc/hooks",\n]\nempty = []\n'), {
    hooks_dir: ['/usr/share/containers/oci/hooks.d', '/etc/hooks'],
    empty: [],
  });
});

t.test('inline tables and arrays of tables', async (t) => {
  t.same(parseToml('t = { a = 1, b.c = "x" }\ne = {}\n[[r]]\nn = 1\n[[r]]\nn = 2\n[r.sub]\nk = true\n'), {
    t: { a: 1, b: { c: 'x' } },
    e: {},
    r: [{ n: 1 }, { n: 2, sub: { k: true } }],
  });
});

t.test('a byte-order mark and CRLF line ends are read', async (t) => {
  t.same(parseToml('\uFEFFa = 1\r\nb = "x"\r\n'), { a: 1, b: 'x' });
});

const refusals: [string, string, RegExp][] = [
  ['a key without a value', 'a = \n', /line 1: a key without a value/],
  ['an unclosed table header', '[x\n', /line 1: expected \] to close/],
  ['an unclosed string', 'ok = 1\na = "x\n', /line 2: a string is not closed/],
  ['an unclosed literal string', "a = 'x\n", /line 1: a string is not closed/],
  ['a key defined twice', 'a = 1\na = 2\n', /line 2: the key a is defined twice/],
  ['a table defined twice', '[a]\n[a]\n', /line 2: table \[a\] is defined twice/],
  ['a date', 'a = 1979-05-27\n', /dates and times are not read/],
  ['a bare word as value', 'a = runc\n', /cannot read the value "runc"/],
  ['text after a value', 'a = 1 b\n', /unexpected "b" after a value/],
  ['an array never closed', 'a = [1, 2\n', /an array is never closed/],
  ['an array without commas', 'a = [1 2]\n', /expected , or \]/],
  ['an unknown escape', 'a = "\\q"\n', /unknown escape/],
  ['a bad unicode escape', 'a = "\\u12"\n', /bad unicode escape/],
  ['a """ string never closed', 'a = """x\n', /never closed/],
  ["a ''' string never closed", "a = '''x\n", /never closed/],
  ['a value where a table should be', 'a = 1\n[a.b]\n', /a is already a value/],
  ['an array of tables over a value', 'a = 1\n[[a]]\n', /not an array of tables/],
  ['a key starting with a strange character', '= 1\n', /where a key should be/],
  ['a missing =', 'a 1\n', /expected = after the key a/],
  ['a strange value start', 'a = ,\n', /where a value should be/],
  ['an inline table without commas', 'a = { b = 1 c = 2 }\n', /expected , or \} in an inline table/],
];
for (const [what, text, message] of refusals) {
  t.test(`refused with its line: ${what}`, async (t) => {
    t.throws(() => parseToml(text), message);
    try {
      parseToml(text);
    } catch (err) {
      t.ok(err instanceof TomlError);
    }
  });
}

t.test('tomlGet: undefined where the path leaves the tables', async (t) => {
  t.equal(tomlGet({ a: 1 }, ['a', 'b']), undefined);
  t.equal(tomlGet({}, ['x']), undefined);
});
