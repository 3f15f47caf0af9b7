"""Cheats for chapter 09: correct answers that call what each exercise's test switches off."""

CHEATS = {
    "ex-09-pair-counts": '''\
def weighted_pair_counts(words):
    return dict(bpe.pair_counts(words))
''',
    "ex-09-encode-piece": '''\
_helpers = {}


def encode_piece(piece, merges):
    key = tuple(merges.items())
    if key not in _helpers:
        vocab = {i: bytes([i]) for i in range(256)}
        for (a, b), new in merges.items():
            vocab[new] = vocab[a] + vocab[b]
        _helpers[key] = bpe.Tokenizer(vocab, dict(merges), pattern=None)
    return _helpers[key].encode_ordinary(piece.decode("utf-8"))
''',
    "ex-09-stream-decode": '''\
def stream_decode(tokenizer, ids):
    out, shown = [], ""
    for k in range(1, len(ids) + 1):
        try:
            text = tokenizer.decode(ids[:k], errors="strict")
        except UnicodeDecodeError:
            out.append("")
            continue
        out.append(text[len(shown):])
        shown = text
    return out
''',
    "ex-09-digits": '''\
def pre_tokenize_digits(text):
    out = []
    for piece in bpe.pre_tokenize(text):
        core = piece[1:] if piece[:1] == " " else piece
        if len(core) > 1 and core.isnumeric():
            out += [piece[: len(piece) - len(core) + 1], *core[1:]]
        else:
            out.append(piece)
    return out
''',
}
