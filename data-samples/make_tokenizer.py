#!/usr/bin/env python3
"""Writes data-samples/tokenizer.json: a small word-level Hugging Face tokenizer for the sample run.

WikiText-2 is already split into words (punctuation separated, rare words replaced by <unk>), so a
WordLevel model over its most frequent words, split on whitespace, covers most of the text with a
vocabulary small enough that lm_head does not dominate a CPU run. Usage (from the checkout root):
    python3 data-samples/make_tokenizer.py data-samples/wikitext-2-valid.txt 2048 > data-samples/tokenizer.json
"""
import collections
import json
import sys

SPECIAL = ["<unk>", "<|begin_of_text|>", "<|end_of_text|>"]


def main(corpus, size):
    with open(corpus, encoding="utf-8") as f:
        counts = collections.Counter(f.read().split())
    words = [w for w, _ in counts.most_common() if w not in SPECIAL][: size - len(SPECIAL)]
    vocab = {token: i for i, token in enumerate(SPECIAL + sorted(words, key=lambda w: (-counts[w], w)))}
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": t != "<unk>"} for t in SPECIAL]
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }
    json.dump(tokenizer, sys.stdout, ensure_ascii=False, separators=(",", ":"))
    covered = sum(counts[w] for w in vocab)
    print(f"{len(vocab)} ids, {covered / sum(counts.values()):.1%} of the corpus' words covered", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
