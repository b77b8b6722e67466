"""A small byte-level BPE encoder for the demo tokenizer (GPT-2 layout), so the
Python dev tools can tokenize without the `tokenizers` package.  It is checked
against the Hugging Face encoding of the whole training corpus by
`train.py --check-bpe` (the corpus ids come from the npm `tokenizers`).

Covers what the demo tokenizer.json uses: ByteLevel pre-tokenizer with the
GPT-2 split pattern (add_prefix_space false), BPE merges by rank, no
normalizer, the <|endoftext|> added token not matched inside text.
"""
import json
import re

# GPT-2's split pattern.  Python's `re` has no \p{L} / \p{N}: [^\W\d_] is the
# letters and \d the digits, which is exact for the ASCII text of the demo.
_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""")
_SPLIT_PUNCT_UNDERSCORE = re.compile(r"_")


def _bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class BPE:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        m = j["model"]
        self.vocab = m["vocab"]
        self.inv = {i: t for t, i in self.vocab.items()}
        for a in j.get("added_tokens", []):
            self.inv[a["id"]] = a["content"]
        merges = [tuple(x) if isinstance(x, list) else tuple(x.split(" ")) for x in m["merges"]]
        self.rank = {p: i for i, p in enumerate(merges)}
        self.b2u = _bytes_to_unicode()
        self.u2b = {u: b for b, u in self.b2u.items()}
        self.cache = {}

    def _word(self, w):
        if w in self.cache:
            return self.cache[w]
        parts = [self.b2u[b] for b in w.encode("utf-8")]
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = self.rank.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        ids = [self.vocab[p] for p in parts]
        self.cache[w] = ids
        return ids

    def pieces(self, text):
        """The pre-tokens: underscore counts as punctuation in GPT-2's pattern."""
        out = []
        for m in _SPLIT.finditer(text):
            out.append(m.group(0))
        return out

    def encode(self, text):
        ids = []
        for p in self.pieces(text):
            ids += self._word(p)
        return ids

    def decode(self, ids):
        s = "".join(self.inv[i] for i in ids)
        return bytes(self.u2b[c] for c in s).decode("utf-8", errors="replace")
