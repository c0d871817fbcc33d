/**
 * A reader for the Python literals some datasets store as strings (RACE's `problems` column is
 * `repr()` of a list of dicts), equivalent to `ast.literal_eval` for strings, numbers, booleans,
 * `None`, lists, tuples and dicts.
 *
 * @module
 */

/** A Python literal as JS: str → string, int/float → number, list/tuple → array, dict → object. */
export type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

/**
 * Parses one Python literal, like `ast.literal_eval`.
 *
 * @throws {SyntaxError} naming the offset where the text stops being a literal.
 */
export function parsePythonLiteral(text: string): PyValue {
  const parser = new Parser(text);
  const value = parser.value();
  parser.skipSpace();
  if (!parser.done()) parser.fail("unexpected text after the literal");
  return value;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

class Parser {
  #pos = 0;
  constructor(readonly text: string) {}

  done(): boolean {
    return this.#pos >= this.text.length;
  }

  fail(what: string): never {
    throw new SyntaxError(`Cannot read Python literal at offset ${this.#pos}: ${what}`);
  }

  skipSpace(): void {
    while (this.#pos < this.text.length && " \t\n\r\f\v".includes(this.text[this.#pos])) this.#pos++;
  }

  value(): PyValue {
    this.skipSpace();
    const c = this.text[this.#pos];
    if (c === undefined) this.fail("unexpected end");
    if (c === "[") return this.#sequence("]");
    if (c === "(") return this.#sequence(")");
    if (c === "{") return this.#dict();
    if (c === "'" || c === '"' || (/[uUrR]/.test(c) && /['"]/.test(this.text[this.#pos + 1] ?? ""))) {
      return this.#strings();
    }
    if (/[-+0-9.]/.test(c)) return this.#number();
    for (const [word, v] of [["True", true], ["False", false], ["None", null]] as const) {
      if (this.text.startsWith(word, this.#pos) && !/\w/.test(this.text[this.#pos + word.length] ?? "")) {
        this.#pos += word.length;
        return v;
      }
    }
    return this.fail(`unexpected "${c}"`);
  }

  #sequence(close: string): PyValue[] {
    this.#pos++;
    const items: PyValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.text[this.#pos] === close) {
        this.#pos++;
        return items;
      }
      items.push(this.value());
      this.skipSpace();
      if (this.text[this.#pos] === ",") this.#pos++;
      else if (this.text[this.#pos] !== close) this.fail(`expected "," or "${close}"`);
    }
  }

  #dict(): { [key: string]: PyValue } {
    this.#pos++;
    const out: { [key: string]: PyValue } = {};
    for (;;) {
      this.skipSpace();
      if (this.text[this.#pos] === "}") {
        this.#pos++;
        return out;
      }
      const key = this.value();
      if (typeof key !== "string" && typeof key !== "number") {
        this.fail("dict keys must be strings or numbers");
      }
      this.skipSpace();
      if (this.text[this.#pos] !== ":") this.fail('expected ":"');
      this.#pos++;
      out[String(key)] = this.value();
      this.skipSpace();
      if (this.text[this.#pos] === ",") this.#pos++;
      else if (this.text[this.#pos] !== "}") this.fail('expected "," or "}"');
    }
  }

  /** One or more adjacent string literals, concatenated as Python does. */
  #strings(): string {
    let out = this.#string();
    for (;;) {
      const save = this.#pos;
      this.skipSpace();
      const c = this.text[this.#pos];
      if (c === "'" || c === '"' || (/[uUrR]/.test(c ?? "") && /['"]/.test(this.text[this.#pos + 1] ?? ""))) {
        out += this.#string();
      } else {
        this.#pos = save;
        return out;
      }
    }
  }

  #string(): string {
    let raw = false;
    if (/[uUrR]/.test(this.text[this.#pos])) {
      raw = /[rR]/.test(this.text[this.#pos]);
      this.#pos++;
    }
    const q = this.text[this.#pos];
    const triple = this.text.startsWith(q.repeat(3), this.#pos);
    const close = triple ? q.repeat(3) : q;
    this.#pos += close.length;
    let out = "";
    for (;;) {
      if (this.done()) this.fail("unterminated string");
      if (this.text.startsWith(close, this.#pos)) {
        this.#pos += close.length;
        return out;
      }
      const c = this.text[this.#pos];
      if (c === "\n" && !triple) this.fail("newline in a single-quoted string");
      if (c !== "\\") {
        out += c;
        this.#pos++;
      } else if (raw) {
        out += c + (this.text[this.#pos + 1] ?? "");
        this.#pos += 2;
      } else {
        out += this.#escape();
      }
    }
  }

  #escape(): string {
    const c = this.text[this.#pos + 1];
    this.#pos += 2;
    if (c === undefined) this.fail("unterminated escape");
    if (c in SIMPLE_ESCAPES) return SIMPLE_ESCAPES[c];
    if (c === "\n") return "";
    if (/[0-7]/.test(c)) {
      let digits = c;
      while (digits.length < 3 && /[0-7]/.test(this.text[this.#pos] ?? "")) digits += this.text[this.#pos++];
      return String.fromCodePoint(parseInt(digits, 8));
    }
    const width = c === "x" ? 2 : c === "u" ? 4 : c === "U" ? 8 : 0;
    if (width === 0) return "\\" + c; // Python keeps unknown escapes as written.
    const hex = this.text.slice(this.#pos, this.#pos + width);
    if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) this.fail(`bad \\${c} escape`);
    this.#pos += width;
    return String.fromCodePoint(parseInt(hex, 16));
  }

  #number(): number {
    const match = /^[-+]?\s*(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?/.exec(
      this.text.slice(this.#pos),
    );
    if (!match) this.fail("bad number");
    this.#pos += match[0].length;
    return Number(match[0].replace(/[\s_]/g, ""));
  }
}
