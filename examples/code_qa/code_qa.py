#!/usr/bin/env python3
"""code_qa: asks questions about a source tree with Folio's Python binding.

    code_qa.py --model M.gguf [--store kv.db] [--ctx N] DIR [QUESTION...]

The directory is ingested (tree-sitter code units: files, classes, functions;
.gitignore honoured, vendored and binary files skipped), prefilled once or
restored from the store, and each question is answered with citations: the
file:line locations the answer writes, checked against the tree, and the
functions and classes the model attended to most. Without questions it asks
a few standard ones.
"""
import argparse
import sys

import folio

DEFAULT_QUESTIONS = [
    "What does this code do, in two sentences?",
    "Where are errors detected and reported? Cite file:line.",
    "Which function is the main entry point?",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="GGUF model")
    p.add_argument("--store", help="KV-snapshot store (SQLite file)")
    p.add_argument("--ctx", type=int, default=0, help="context budget in tokens (default: the model's)")
    p.add_argument("-n", "--max-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("directory")
    p.add_argument("questions", nargs="*")
    args = p.parse_args()

    try:
        engine = folio.Engine(args.model, store=args.store, context_budget=args.ctx, threads=args.threads)
        info = engine.model_info
        print(f"Code Q&A with {args.model} ({info['architecture']}, {info['parameters'] / 1e6:.1f}M parameters)")
        if info["random_weights"]:
            print("NOTE: random-weight model (folio make-tiny): the answers are meaningless text; "
                  "ingestion, snapshots and citation checks are real.")
        corpus = engine.corpus([args.directory])
        st = corpus.stats()
        print(f"{args.directory}: {st.documents} files, {st.tokens:,} tokens, {len(st.skipped)} skipped")
        for source, reason in st.skipped:
            print(f"  skipped {source}: {reason}")
        session = engine.session(corpus)
        for question in args.questions or DEFAULT_QUESTIONS:
            print(f"\nQ: {question}\nA: ", end="", flush=True)
            stream = session.stream(question, max_tokens=args.max_tokens)
            for piece in stream:
                print(piece, end="", flush=True)
            answer = stream.answer
            print()
            t = answer.timings
            print(f"   [corpus {t.corpus_tokens:,} tokens, {t.restored_tokens:,} restored from the store; "
                  f"{t.generated_tokens} generated at {t.decode_tokens_per_s:.0f} tok/s]")
            for c in answer.references():
                where = c.description if c.resolved else f"NOT IN THE TREE: {c.problem}"
                print(f"   cited {c.text}: {where}")
            for c in answer.evidence():
                print(f"   looked at {100 * c.weight:5.1f}%  {c.description}")
        return 0
    except folio.Error as e:
        print(f"code_qa: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
