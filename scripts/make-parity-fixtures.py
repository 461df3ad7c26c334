#!/usr/bin/env python3
"""Builds the numerical-parity fixtures in tests/data/parity/<name>/.

For each of `qwen3moe` (Qwen3MoeForCausalLM) and `qwen3` (Qwen3ForCausalLM):
  config.json, model.safetensors (f32, Hugging Face tensor names), tokenizer.json
  (+ tokenizer_config.json) -- a Hugging Face model directory that
  `folio convert` turns into GGUF -- and reference.json + reference.bin: the
  logits transformers computes for every position of 3 prompts (512, 130 and
  37 tokens) and 32-token greedy continuations. Format: /work/notes/parity_format.md
  (shared contract), summarised in reference.json itself.

The tokenizer is a small synthetic byte-level BPE (Qwen2 pre-tokenizer regex,
vocab = config vocab_size = 512, with <|endoftext|>, <|im_start|>, <|im_end|>
as added special tokens) trained here, deterministically, on generated text.

Needs torch, transformers (and their dependency `regex`); CPU is enough:
    python3 scripts/make-parity-fixtures.py [--out tests/data/parity]
Everything is seeded: rerunning with the same library versions gives the same
files. The script checks its own output: transformers must load the checkpoint
with no missing/unexpected weights, the HF `tokenizers` library must encode the
prompts exactly as the built-in encoder does, every expert of every MoE layer
must receive tokens, and greedy steps must not be near-ties.
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import unicodedata
from collections import Counter

QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 512
PROMPT_LENGTHS = [512, 130, 37]
GREEDY_TOKENS = 32
TOLERANCE = 1e-4
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

# ---- text ---------------------------------------------------------------------

WORDS = """the of and to in is that for it as was with be by on not he this are or his from at which
but have an they you were her she there been one all we their has would when if so no will more can
who its about said into them some could time these two may then first any only other new like over
also after most made did many before must through back years where much your way well down should
because each just those people how too little state good very make world still own see men work long
get here between both life being under never day same another know while last might us great old year
off come since against go came right used take three contract clause party agreement shall notice term
section court law tenant landlord payment function class return value error buffer model token layer
expert router attention context window document answer question anchor heading paragraph""".split()

FIXED_TEXT = [
    "The quick brown fox jumps over the lazy dog. 1234567890 + 42 = 1234567932.",
    "def forward(self, x):\n    return self.proj(torch.relu(x)) * 0.5  # scale\n",
    "int main(void) { printf(\"%d\\n\", 7 * 6); return 0; }\n",
    "Section 4.2 (Termination). Either party may terminate this Agreement upon thirty (30) days' notice.",
    "Caf\u00e9, na\u00efve, r\u00e9sum\u00e9 \u2014 \u00fcber Stra\u00dfe; \u4e2d\u6587\u6587\u672c; \u0627\u0644\u0639\u0631\u0628\u064a\u0629; "
    "emoji \U0001F600\U0001F680 and \u0915\u093f\u0924\u093e\u092c (combining vowel signs).",
    "   leading spaces\ttabs\n\n\nnewlines   and trailing   ",
    "I'm sure they'll say it's fine; we've done what we'd planned. DON'T SHOUT!",
]


def generated_text(seed, n_words):
    """Deterministic pseudo-prose with punctuation, numbers and newlines."""
    rng = random.Random(seed)
    out = []
    for i in range(n_words):
        w = rng.choice(WORDS)
        r = rng.random()
        if r < 0.05:
            w = w.capitalize()
        elif r < 0.08:
            w = str(rng.randrange(0, 100000))
        out.append(w)
        r = rng.random()
        if r < 0.06:
            out.append(". ")
        elif r < 0.09:
            out.append(", ")
        elif r < 0.10:
            out.append(".\n")
        else:
            out.append(" ")
    return "".join(out)


# ---- byte-level BPE -------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHARS = bytes_to_unicode()


def pretokenize(text):
    import regex  # a dependency of transformers; has \p{L}
    return [m.group(0) for m in regex.finditer(QWEN2_REGEX, text)]


def to_symbols(piece):
    return tuple(BYTE_CHARS[b] for b in piece.encode("utf-8"))


def train_bpe(text, n_merges):
    """Classic BPE: repeatedly merge the most frequent adjacent pair (ties:
    the lexicographically smallest pair), over pre-tokenized words."""
    words = Counter(to_symbols(p) for p in pretokenize(text))
    words = {w: c for w, c in words.items()}
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            raise SystemExit("BPE training ran out of pairs: corpus too small")
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        merged = best[0] + best[1]
        new_words = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            t = tuple(out)
            new_words[t] = new_words.get(t, 0) + c
        words = new_words
    return merges


class Bpe:
    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.special = {s: vocab[s] for s in SPECIALS}

    def encode_piece(self, piece):
        syms = list(to_symbols(piece))
        while len(syms) > 1:
            best, best_rank = None, None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            syms[best:best + 2] = [syms[best] + syms[best + 1]]
        return [self.vocab[s] for s in syms]

    def encode(self, text):
        """Special tokens in the text become their ids; the rest is BPE."""
        ids, i = [], 0
        while i < len(text):
            nxt = min(((text.find(s, i), s) for s in SPECIALS if text.find(s, i) >= 0), default=(-1, None))
            end = nxt[0] if nxt[0] >= 0 else len(text)
            # tokenizer.json declares an NFC normalizer (as Qwen's does); the
            # texts used here are already NFC, so this changes nothing for them.
            for piece in pretokenize(unicodedata.normalize("NFC", text[i:end])):
                ids.extend(self.encode_piece(piece))
            if nxt[0] < 0:
                break
            ids.append(self.special[nxt[1]])
            i = nxt[0] + len(nxt[1])
        return ids


def build_tokenizer():
    corpus = "\n".join(FIXED_TEXT * 3) + "\n" + generated_text(1234, 6000)
    n_regular = VOCAB_SIZE - len(SPECIALS)
    merges = train_bpe(corpus, n_regular - 256)
    vocab = {}
    for b in range(256):
        vocab[BYTE_CHARS[b]] = len(vocab)
    for a, b in merges:
        tok = a + b
        if tok in vocab:
            raise SystemExit(f"BPE produced the token {tok!r} twice")
        vocab[tok] = len(vocab)
    assert len(vocab) == n_regular
    for s in SPECIALS:
        vocab[s] = len(vocab)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    tokenizer_json = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True} for s in SPECIALS],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_REGEX}, "behavior": "Isolated", "invert": False},
            byte_level]},
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for t, i in vocab.items() if t not in SPECIALS},
                  "merges": [f"{a} {b}" for a, b in merges]},
    }
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "add_bos_token": False,
        "model_max_length": 1024,
        "chat_template": CHAT_TEMPLATE,
    }
    return Bpe(vocab, merges), tokenizer_json, tokenizer_config


def prompt_texts():
    """Texts whose encodings give the prompts (each truncated to its length)."""
    return [
        "\n".join(FIXED_TEXT) + "\n" + generated_text(7, 1500),
        "<|im_start|>system\nYou answer questions about contracts.<|im_end|>\n<|im_start|>user\n"
        + generated_text(8, 400) + "<|im_end|>\n<|im_start|>assistant\n",
        FIXED_TEXT[4] + " " + FIXED_TEXT[1] + generated_text(9, 100),
    ]


TOKENIZER_CHECK = FIXED_TEXT + [
    "<|im_start|>user\nHello<|im_end|>",
    "a  b   c\n\n d",
    "",
    "12345 67 8",
]

# ---- models -------------------------------------------------------------------------

def model_configs():
    common = {
        "vocab_size": VOCAB_SIZE, "hidden_size": 64, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "max_position_embeddings": 1024, "rope_theta": 1000000.0, "rope_scaling": None,
        "rms_norm_eps": 1e-6, "hidden_act": "silu", "attention_bias": False, "attention_dropout": 0.0,
        "use_sliding_window": False, "sliding_window": None, "max_window_layers": 4,
        "initializer_range": 0.02, "use_cache": True, "torch_dtype": "float32",
        "bos_token_id": VOCAB_SIZE - 3, "eos_token_id": VOCAB_SIZE - 1,
    }
    qwen3moe = dict(common, **{
        "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
        "intermediate_size": 128, "moe_intermediate_size": 32, "num_experts": 8, "num_experts_per_tok": 2,
        "norm_topk_prob": True, "decoder_sparse_step": 1, "mlp_only_layers": [],
        "output_router_logits": False, "router_aux_loss_coef": 0.001, "tie_word_embeddings": False,
    })
    qwen3 = dict(common, **{
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "intermediate_size": 128, "tie_word_embeddings": True,
    })
    return {"qwen3moe": qwen3moe, "qwen3": qwen3}


def make_weights(cfg, seed):
    """Hugging Face tensor names -> f32 tensors. Matrices ~ N(0, 0.2^2) so logits
    are O(1) and routing is far from uniform; norm weights 1 + N(0, 0.1^2) so a
    forward pass that ignored them would not match."""
    import torch
    g = torch.Generator().manual_seed(seed)
    H, V, HD = cfg["hidden_size"], cfg["vocab_size"], cfg["head_dim"]
    NQ, NKV = cfg["num_attention_heads"] * HD, cfg["num_key_value_heads"] * HD
    w = {}

    def mat(name, *shape, std=0.2):
        w[name] = (torch.randn(*shape, generator=g) * std).float().contiguous()

    def norm(name, n):
        w[name] = (1.0 + torch.randn(n, generator=g) * 0.1).float().contiguous()

    mat("model.embed_tokens.weight", V, H, std=1.0)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        norm(p + "input_layernorm.weight", H)
        mat(p + "self_attn.q_proj.weight", NQ, H)
        mat(p + "self_attn.k_proj.weight", NKV, H)
        mat(p + "self_attn.v_proj.weight", NKV, H)
        mat(p + "self_attn.o_proj.weight", H, NQ)
        norm(p + "self_attn.q_norm.weight", HD)
        norm(p + "self_attn.k_norm.weight", HD)
        norm(p + "post_attention_layernorm.weight", H)
        if "num_experts" in cfg:
            E, F = cfg["num_experts"], cfg["moe_intermediate_size"]
            mat(p + "mlp.gate.weight", E, H)
            for e in range(E):
                q = f"{p}mlp.experts.{e}."
                mat(q + "gate_proj.weight", F, H)
                mat(q + "up_proj.weight", F, H)
                mat(q + "down_proj.weight", H, F)
        else:
            F = cfg["intermediate_size"]
            mat(p + "mlp.gate_proj.weight", F, H)
            mat(p + "mlp.up_proj.weight", F, H)
            mat(p + "mlp.down_proj.weight", H, F)
    norm("model.norm.weight", H)
    if not cfg["tie_word_embeddings"]:
        mat("lm_head.weight", V, H)
    return w


def load_model(directory, weights):
    import torch
    from transformers import AutoModelForCausalLM
    kwargs = {"attn_implementation": "eager"}
    try:
        model, info = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32,
                                                           output_loading_info=True, **kwargs)
    except TypeError:
        model, info = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32,
                                                           output_loading_info=True, **kwargs)
    model = model.float().eval()
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    problems = {}
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        v = [x for x in (info.get(k) or []) if not (tied and k == "missing_keys" and x == "lm_head.weight")]
        if v:
            problems[k] = v
    if problems:
        raise SystemExit(f"{directory}: transformers did not load the checkpoint cleanly: {problems}")
    # Parameters transformers keeps under the checkpoint's names must be the
    # checkpoint's values (newer versions fuse experts under other names).
    state = model.state_dict()
    matched = 0
    for name, t in weights.items():
        if name in state:
            if not torch.equal(state[name].float(), t):
                raise SystemExit(f"{directory}: transformers' {name} differs from the checkpoint")
            matched += 1
    if tied and not torch.equal(model.get_output_embeddings().weight.float(), weights["model.embed_tokens.weight"]):
        raise SystemExit(f"{directory}: lm_head is not tied to embed_tokens")
    non_expert = sum(1 for n in weights if ".experts." not in n)
    if matched < non_expert:
        raise SystemExit(f"{directory}: only {matched} of {non_expert} non-expert tensors found in the model")
    return model


def run_model(name, cfg, bpe, seed, out_root):
    import torch
    from safetensors.torch import save_file

    directory = os.path.join(out_root, name)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    weights = make_weights(cfg, seed)
    save_file(weights, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    model = load_model(directory, weights)

    prompts = []
    for text, n in zip(prompt_texts(), PROMPT_LENGTHS):
        ids = bpe.encode(text)
        if len(ids) < n:
            raise SystemExit(f"prompt text encodes to {len(ids)} tokens, fewer than {n}")
        prompts.append(ids[:n])

    moe = "num_experts" in cfg
    routed = None
    hooks = []
    if moe:
        E, K = cfg["num_experts"], cfg["num_experts_per_tok"]
        routed = [[0] * E for _ in range(cfg["num_hidden_layers"])]

        def make_hook(layer):
            gate = weights[f"model.layers.{layer}.mlp.gate.weight"]

            def hook(_module, args, kwargs):
                x = args[0] if args else kwargs["hidden_states"]
                x = x.reshape(-1, x.shape[-1]).float()
                top = torch.topk(x @ gate.T, K, dim=-1).indices.reshape(-1).tolist()
                for e in top:
                    routed[layer][e] += 1
            return hook

        for layer, block in enumerate(model.model.layers):
            hooks.append(block.mlp.register_forward_pre_hook(make_hook(layer), with_kwargs=True))

    logits_all, entries, offset = [], [], 0
    with torch.no_grad():
        for ids in prompts:
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
            assert logits.shape == (len(ids), cfg["vocab_size"])
            logits_all.append(logits)
            entries.append({"ids": ids, "logits_offset": offset, "n_positions": len(ids)})
            offset += logits.numel()
    for h in hooks:
        h.remove()
    if moe:
        for layer, counts in enumerate(routed):
            if min(counts) == 0:
                print(f"{name} seed {seed}: layer {layer}: an expert received no token {counts}; next seed")
                return False

    greedy, min_margin = [], math.inf
    with torch.no_grad():
        for i, ids in enumerate(prompts):
            seq = list(ids)
            for _ in range(GREEDY_TOKENS):
                last = model(input_ids=torch.tensor([seq])).logits[0, -1].float()
                top2 = torch.topk(last, 2)
                min_margin = min(min_margin, float(top2.values[0] - top2.values[1]))
                seq.append(int(top2.indices[0]))
            greedy.append({"prompt": i, "tokens": seq[len(ids):]})

    flat = torch.cat([l.reshape(-1) for l in logits_all]).numpy().astype("<f4")
    max_abs = float(abs(flat).max())
    with open(os.path.join(directory, "reference.bin"), "wb") as f:
        f.write(flat.tobytes())
    import transformers
    reference = {
        "model": name,
        "vocab_size": cfg["vocab_size"],
        "prompts": entries,
        "greedy": greedy,
        "tolerance": TOLERANCE,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "seed": seed,
        "max_abs_logit": max_abs,
        "min_greedy_margin": min_margin,
        "comment": "logits: little-endian f32 in reference.bin, row-major [n_positions][vocab_size] per prompt, "
                   "starting at logits_offset (an element index). Pass: max|dlogit| / max|logit| < tolerance "
                   "and identical greedy tokens.",
    }
    if moe:
        reference["expert_tokens_per_layer"] = routed
    with open(os.path.join(directory, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    if min_margin < 1e-3:
        print(f"{name} seed {seed}: a greedy step is a near-tie (margin {min_margin}); next seed")
        return False
    size = sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory))
    print(f"{name}: {len(prompts)} prompts {[len(p) for p in prompts]}, max|logit| {max_abs:.3f}, "
          f"min greedy margin {min_margin:.4f}, {size} bytes"
          + (f", tokens per expert (layer 0) {routed[0]}" if moe else ""))
    for g in greedy:
        print(f"  greedy after prompt {g['prompt']}: {g['tokens'][:8]}...")
    return True


def write_tokenizer(directory, tokenizer_json, tokenizer_config):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_config, f, ensure_ascii=False, indent=2)
        f.write("\n")


def check_with_hf_tokenizers(path, bpe):
    """The HF `tokenizers` library must read our tokenizer.json and agree with
    the built-in encoder on every prompt and check string."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        print("note: `tokenizers` not installed; skipped the cross-check", file=sys.stderr)
        return None
    tok = Tokenizer.from_file(path)
    checks = []
    for text in prompt_texts() + TOKENIZER_CHECK:
        ours = bpe.encode(text)
        theirs = tok.encode(text, add_special_tokens=False).ids
        if ours != theirs:
            raise SystemExit(f"tokenizer mismatch on {text[:40]!r}: ours {ours[:20]} vs tokenizers {theirs[:20]}")
        checks.append({"text": text, "ids": ours})
    return checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                                                  "parity"))
    ap.add_argument("--only", choices=["qwen3moe", "qwen3"], help="build one model")
    ap.add_argument("--tokenizer-only", action="store_true", help="build and check the tokenizer, no torch needed")
    args = ap.parse_args()

    bpe, tokenizer_json, tokenizer_config = build_tokenizer()
    names = [args.only] if args.only else ["qwen3moe", "qwen3"]
    for name in names:
        write_tokenizer(os.path.join(args.out, name), tokenizer_json, tokenizer_config)
    checks = check_with_hf_tokenizers(os.path.join(args.out, names[0], "tokenizer.json"), bpe)
    if checks is not None:
        with open(os.path.join(args.out, "tokenizer_check.json"), "w", encoding="utf-8") as f:
            json.dump(checks, f, ensure_ascii=False, indent=1)
            f.write("\n")
    print(f"tokenizer: {len(bpe.vocab)} tokens, {len(bpe.ranks)} merges; prompt lengths available: "
          f"{[len(bpe.encode(t)) for t in prompt_texts()]}")
    if args.tokenizer_only:
        return

    import torch
    import transformers
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, transformers {transformers.__version__}")
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    torch.manual_seed(0)
    configs = model_configs()
    first_seed = {"qwen3moe": 1001, "qwen3": 2002}
    for name in names:
        # A seed is refused when an expert gets no token or a greedy step is a
        # near-tie (which would make the greedy check flaky); try the next.
        for seed in range(first_seed[name], first_seed[name] + 8):
            if run_model(name, configs[name], bpe, seed, args.out):
                break
        else:
            raise SystemExit(f"{name}: no acceptable seed")


if __name__ == "__main__":
    main()
