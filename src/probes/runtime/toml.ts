// A small, strict TOML reader for the configuration files the runtime checks
// read (containerd, CRI-O, containers.conf): tables, arrays of tables, dotted
// and quoted keys, basic and literal strings (also multi-line), booleans,
// integers, floats, arrays and inline tables, comments. Dates and times are
// not read: they are refused with the line, like anything else it cannot read.

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

/** What the reader could not read, with the line (1-based) where it stopped. */
export class TomlError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`line ${line}: ${detail}`);
  }
}

const BARE_KEY = /[A-Za-z0-9_-]/;
const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };

function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Reader {
  private pos = 0;
  private line = 1;
  readonly root: TomlTable = {};
  /** Tables defined by a [header] or made by dotted keys, which may not be defined again. */
  private readonly defined = new Set<TomlTable>();

  constructor(private readonly text: string) {}

  fail(detail: string): never {
    throw new TomlError(this.line, detail);
  }

  private peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }

  private next(): string {
    const c = this.text[this.pos++] ?? '';
    if (c === '\n') this.line++;
    return c;
  }

  private startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  /** Spaces and tabs; with `newlines`, also line ends and comments. */
  private skip(newlines = false): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || (newlines && (c === '\n' || c === '\r'))) this.next();
      else if (c === '#' && newlines) this.skipComment();
      else return;
    }
  }

  /** To the end of the line, its newline left: a jump, not a walk (packaged config files are mostly comments). */
  private skipComment(): void {
    const end = this.text.indexOf('\n', this.pos);
    this.pos = end === -1 ? this.text.length : end;
  }

  /** After a statement: only a comment and the end of the line. */
  private endOfLine(): void {
    this.skip();
    if (this.peek() === '#') this.skipComment();
    if (this.peek() === '\r') this.next();
    if (this.pos < this.text.length && this.next() !== '\n')
      this.fail(`unexpected ${JSON.stringify(this.text[this.pos - 1])} after a value`);
  }

  read(): TomlTable {
    let current = this.root;
    for (;;) {
      this.skip(true);
      if (this.pos >= this.text.length) return this.root;
      if (this.startsWith('[[')) {
        this.pos += 2;
        const keys = this.keyPath(']]');
        current = this.arrayTable(keys);
      } else if (this.peek() === '[') {
        this.next();
        const keys = this.keyPath(']');
        current = this.headerTable(keys);
      } else {
        this.keyValue(current);
      }
      this.endOfLine();
    }
  }

  private keyPath(close: string): string[] {
    this.skip();
    const keys = this.dottedKey();
    this.skip();
    if (!this.startsWith(close)) this.fail(`expected ${close} to close a table header`);
    this.pos += close.length;
    return keys;
  }

  private dottedKey(): string[] {
    const keys = [this.simpleKey()];
    for (;;) {
      this.skip();
      if (this.peek() !== '.') return keys;
      this.next();
      this.skip();
      keys.push(this.simpleKey());
    }
  }

  private simpleKey(): string {
    const c = this.peek();
    if (c === '"') return this.basicString();
    if (c === "'") return this.literalString();
    const start = this.pos;
    while (BARE_KEY.test(this.peek())) this.next();
    if (this.pos === start)
      this.fail(c === '' || c === '\n' ? 'expected a key' : `unexpected ${JSON.stringify(c)} where a key should be`);
    return this.text.slice(start, this.pos);
  }

  /** Walk (creating) the tables of `keys` from `table`. */
  private descend(table: TomlTable, keys: string[], implicit: boolean): TomlTable {
    let t = table;
    for (const key of keys) {
      let v = t[key];
      if (v === undefined) {
        v = t[key] = {};
        if (implicit) this.defined.add(v);
      } else if (Array.isArray(v) && v.length > 0 && isTable(v[v.length - 1])) {
        v = v[v.length - 1];
      } else if (!isTable(v)) {
        this.fail(`${key} is already a value, not a table`);
      }
      t = v as TomlTable;
    }
    return t;
  }

  private headerTable(keys: string[]): TomlTable {
    const parent = this.descend(this.root, keys.slice(0, -1), false);
    const last = keys[keys.length - 1];
    const existing = parent[last];
    if (existing !== undefined && (!isTable(existing) || this.defined.has(existing)))
      this.fail(`table [${keys.join('.')}] is defined twice`);
    const table = isTable(existing) ? existing : (parent[last] = {});
    this.defined.add(table);
    return table;
  }

  private arrayTable(keys: string[]): TomlTable {
    const parent = this.descend(this.root, keys.slice(0, -1), false);
    const last = keys[keys.length - 1];
    const existing = parent[last] ?? (parent[last] = []);
    if (!Array.isArray(existing)) this.fail(`${keys.join('.')} is not an array of tables`);
    const table: TomlTable = {};
    existing.push(table);
    return table;
  }

  private keyValue(table: TomlTable): void {
    const keys = this.dottedKey();
    this.skip();
    if (this.next() !== '=') this.fail(`expected = after the key ${keys.join('.')}`);
    this.skip();
    const target = this.descend(table, keys.slice(0, -1), true);
    const last = keys[keys.length - 1];
    if (last in target) this.fail(`the key ${keys.join('.')} is defined twice`);
    target[last] = this.value();
  }

  private value(): TomlValue {
    const c = this.peek();
    if (this.startsWith('"""')) return this.multilineBasic();
    if (this.startsWith("'''")) return this.multilineLiteral();
    if (c === '"') return this.basicString();
    if (c === "'") return this.literalString();
    if (c === '[') return this.array();
    if (c === '{') return this.inlineTable();
    const m = /^[^\s,\]}#]+/.exec(this.text.slice(this.pos, this.pos + 200));
    const word = m?.[0] ?? '';
    if (word === '')
      this.fail(
        c === '' || c === '\n' ? 'a key without a value' : `unexpected ${JSON.stringify(c)} where a value should be`,
      );
    this.pos += word.length;
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (/^[+-]?(0|[1-9](_?\d)*)$/.test(word)) return Number(word.replaceAll('_', ''));
    if (/^0x[0-9A-Fa-f](_?[0-9A-Fa-f])*$/.test(word)) return Number.parseInt(word.slice(2).replaceAll('_', ''), 16);
    if (/^0o[0-7](_?[0-7])*$/.test(word)) return Number.parseInt(word.slice(2).replaceAll('_', ''), 8);
    if (/^[+-]?(0|[1-9](_?\d)*)(\.\d(_?\d)*)?([eE][+-]?\d(_?\d)*)?$/.test(word))
      return Number(word.replaceAll('_', ''));
    if (/^[+-]?(inf|nan)$/.test(word)) return Number(word.replace('inf', 'Infinity').replace('nan', 'NaN'));
    if (/^\d{4}-\d{2}-\d{2}|^\d{2}:\d{2}/.test(word)) this.fail(`dates and times are not read by this reader: ${word}`);
    return this.fail(`cannot read the value ${JSON.stringify(word)} (a string needs quotes)`);
  }

  private basicString(): string {
    this.next(); // "
    let out = '';
    for (;;) {
      if (this.peek() === '' || this.peek() === '\n') this.fail('a string is not closed on its line');
      const c = this.next();
      if (c === '"') return out;
      out += c === '\\' ? this.escape() : c;
    }
  }

  private escape(): string {
    const c = this.next();
    if (c in ESCAPES) return ESCAPES[c];
    if (c === 'u' || c === 'U') {
      const hex = this.text.slice(this.pos, this.pos + (c === 'u' ? 4 : 8));
      if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== (c === 'u' ? 4 : 8))
        this.fail(`bad unicode escape \\${c}${hex}`);
      this.pos += hex.length;
      return String.fromCodePoint(Number.parseInt(hex, 16));
    }
    return this.fail(`unknown escape \\${c}`);
  }

  private literalString(): string {
    this.next(); // '
    const end = this.text.indexOf("'", this.pos);
    const nl = this.text.indexOf('\n', this.pos);
    if (end < 0 || (nl >= 0 && nl < end)) this.fail('a string is not closed on its line');
    const s = this.text.slice(this.pos, end);
    this.pos = end + 1;
    return s;
  }

  private multilineBasic(): string {
    this.pos += 3;
    if (this.peek() === '\n') this.next();
    let out = '';
    for (;;) {
      if (this.startsWith('"""')) {
        this.pos += 3;
        return out;
      }
      const c = this.next();
      if (c === '') this.fail('a """ string is never closed');
      if (c !== '\\') {
        out += c;
      } else if (/[ \t\r\n]/.test(this.peek())) {
        while (/[ \t\r\n]/.test(this.peek())) this.next(); // line-ending backslash
      } else {
        out += this.escape();
      }
    }
  }

  private multilineLiteral(): string {
    this.pos += 3;
    if (this.peek() === '\n') this.next();
    const end = this.text.indexOf("'''", this.pos);
    if (end < 0) this.fail("a ''' string is never closed");
    const s = this.text.slice(this.pos, end);
    for (const ch of s) if (ch === '\n') this.line++;
    this.pos = end + 3;
    return s;
  }

  private array(): TomlValue[] {
    this.next(); // [
    const items: TomlValue[] = [];
    for (;;) {
      this.skip(true);
      if (this.peek() === ']') {
        this.next();
        return items;
      }
      items.push(this.value());
      this.skip(true);
      const c = this.next();
      if (c === ']') return items;
      if (c !== ',')
        this.fail(c === '' ? 'an array is never closed' : `expected , or ] in an array, not ${JSON.stringify(c)}`);
    }
  }

  private inlineTable(): TomlTable {
    this.next(); // {
    const table: TomlTable = {};
    this.skip();
    if (this.peek() === '}') {
      this.next();
      return table;
    }
    for (;;) {
      this.skip();
      this.keyValue(table);
      this.skip();
      const c = this.next();
      if (c === '}') return table;
      if (c !== ',') this.fail(`expected , or } in an inline table, not ${JSON.stringify(c)}`);
    }
  }
}

/** Parse TOML text; throws TomlError (with the line) for what it cannot read. */
export function parseToml(text: string): TomlTable {
  return new Reader(text.replace(/^\uFEFF/, '')).read();
}

/** The value at a path of keys, or undefined. */
export function tomlGet(table: TomlTable, keys: readonly string[]): TomlValue | undefined {
  let v: TomlValue | undefined = table;
  for (const key of keys) {
    if (!isTable(v)) return undefined;
    v = v[key];
  }
  return v;
}
