/**
 * Python's string semantics where they differ from JavaScript's and a template depends on them:
 * `str.isspace` / regex `\s`, `strip`, `capitalize`, `len` and `re.split(r"\s+")`. lm-eval's
 * prompts are built with these, so using JS's `trim` or `\s` would change some prompts.
 *
 * @module
 */

/**
 * The characters of Python's `str.isspace()` (and of `\s` in a `re` str pattern), as a regex
 * class body. Unlike JS's `\s` it includes U+001C–U+001F and U+0085, and excludes U+FEFF.
 */
export const PY_WHITESPACE =
  "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

const LEADING = new RegExp(`^[${PY_WHITESPACE}]+`);
const TRAILING = new RegExp(`[${PY_WHITESPACE}]+$`);
const RUNS = new RegExp(`[${PY_WHITESPACE}]+`);

/** Python's `s.strip()`. */
export function pyStrip(s: string): string {
  return pyRstrip(pyLstrip(s));
}

/** Python's `s.lstrip()`. */
export function pyLstrip(s: string): string {
  return s.replace(LEADING, "");
}

/** Python's `s.rstrip()`. */
export function pyRstrip(s: string): string {
  return s.replace(TRAILING, "");
}

/** Python's `len(s)`: code points, not UTF-16 units. */
export function pyLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Python's `re.split(r"\s+", s)`, empty pieces at either end included. */
export function pySplitWhitespace(s: string): string[] {
  return s.split(RUNS);
}

/**
 * Python's `s.capitalize()`: the first character in title case, the rest in lower case. JS has
 * no title case, so the characters whose title case differs from their upper case are listed.
 */
export function pyCapitalize(s: string): string {
  const first = s.codePointAt(0);
  if (first === undefined) return "";
  const head = String.fromCodePoint(first);
  return titleCase(first, head) + s.slice(head.length).toLowerCase();
}

function titleCase(code: number, char: string): string {
  // Georgian Mkhedruli letters are their own title case, though their upper case is Mtavruli.
  if ((code >= 0x10d0 && code <= 0x10fa) || (code >= 0x10fd && code <= 0x10ff)) return char;
  return TITLE_EXCEPTIONS.get(code) ?? char.toUpperCase();
}

/**
 * `code:title` pairs (hex code points, `+` joining a multi-character title) for every character
 * whose Python 3.11 `title()` differs from its `upper()` outside Georgian; computed with CPython.
 */
const TITLE_TABLE =
  "df:53+73 1c4:1c5 1c5:1c5 1c6:1c5 1c7:1c8 1c8:1c8 1c9:1c8 1ca:1cb 1cb:1cb 1cc:1cb 1f1:1f2 " +
  "1f2:1f2 1f3:1f2 587:535+582 1f80:1f88 1f81:1f89 1f82:1f8a 1f83:1f8b 1f84:1f8c 1f85:1f8d 1f86:1f8e " +
  "1f87:1f8f 1f88:1f88 1f89:1f89 1f8a:1f8a 1f8b:1f8b 1f8c:1f8c 1f8d:1f8d 1f8e:1f8e 1f8f:1f8f 1f90:1f98 " +
  "1f91:1f99 1f92:1f9a 1f93:1f9b 1f94:1f9c 1f95:1f9d 1f96:1f9e 1f97:1f9f 1f98:1f98 1f99:1f99 1f9a:1f9a " +
  "1f9b:1f9b 1f9c:1f9c 1f9d:1f9d 1f9e:1f9e 1f9f:1f9f 1fa0:1fa8 1fa1:1fa9 1fa2:1faa 1fa3:1fab 1fa4:1fac " +
  "1fa5:1fad 1fa6:1fae 1fa7:1faf 1fa8:1fa8 1fa9:1fa9 1faa:1faa 1fab:1fab 1fac:1fac 1fad:1fad 1fae:1fae " +
  "1faf:1faf 1fb2:1fba+345 1fb3:1fbc 1fb4:386+345 1fb7:391+342+345 1fbc:1fbc 1fc2:1fca+345 1fc3:1fcc " +
  "1fc4:389+345 1fc7:397+342+345 1fcc:1fcc 1ff2:1ffa+345 1ff3:1ffc 1ff4:38f+345 1ff7:3a9+342+345 1ffc:1ffc " +
  "fb00:46+66 fb01:46+69 fb02:46+6c fb03:46+66+69 fb04:46+66+6c fb05:53+74 fb06:53+74 fb13:544+576 " +
  "fb14:544+565 fb15:544+56b fb16:54e+576 fb17:544+56d";

const TITLE_EXCEPTIONS: ReadonlyMap<number, string> = new Map(
  TITLE_TABLE.split(" ").map((entry) => {
    const [code, title] = entry.split(":");
    return [parseInt(code, 16), String.fromCodePoint(...title.split("+").map((h) => parseInt(h, 16)))];
  }),
);
