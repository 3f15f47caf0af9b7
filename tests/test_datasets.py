"""course_lib.datasets: shipped files load, checksums are verified, bad files are explained."""
from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pytest

from course_lib import datasets
from course_lib.datasets import (FILES, DatasetError, load_analogies, load_sentences, load_similarity,
                                 load_text, missing_files)

REPO_DATA = Path(__file__).resolve().parent.parent / "datasets"


def test_shipped_checksums_match_independent_hash():
    for name, info in FILES.items():
        digest = hashlib.sha256((REPO_DATA / name).read_bytes()).hexdigest()
        assert digest == info.sha256, name
    assert missing_files() == []


def test_checksums_are_listed_in_readme():
    readme = (REPO_DATA / "README.md").read_text(encoding="utf-8")
    for name, info in FILES.items():
        assert info.sha256 in readme, f"{name}'s sha256 is not in datasets/README.md"


def test_load_text_is_the_file():
    for name in ["shakespeare", "wiki"]:
        text = load_text(name)
        assert isinstance(text, str) and len(text) > 100_000
        assert text == (REPO_DATA / datasets.TEXTS[name]).read_text(encoding="utf-8")
    assert load_text("shakespeare").startswith("ALL'S WELL THAT ENDS WELL\n")


def test_load_sentences_are_token_lists():
    articles = load_sentences("wiki")
    raw = [line for line in (REPO_DATA / "wiki.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(articles) == len(raw)
    assert all(isinstance(a, list) and a and all(isinstance(t, str) and t for t in a) for a in articles)
    assert sum(map(len, articles)) == sum(len(line.split()) for line in raw)
    # gensim's WikiCorpus defaults: lowercase, 2..15 characters
    tokens = [t for a in articles for t in a]
    assert all(t == t.lower() and 2 <= len(t) <= 15 for t in tokens)


@pytest.mark.parametrize("name,low,high", [("wordsim353", 0, 10), ("simlex999", 0, 10)])
def test_load_similarity(name, low, high):
    pairs = load_similarity(name)
    raw = (REPO_DATA / datasets.SIMILARITY[name]).read_text(encoding="utf-8").splitlines()
    n_data = sum(1 for line in raw if line.strip() and not line.startswith("#"))
    assert len(pairs) == n_data
    assert int(name[-3:]) == n_data  # wordsim353 has 353 pairs, simlex999 has 999
    for w1, w2, score in pairs:
        assert isinstance(w1, str) and isinstance(w2, str) and w1 and w2
        assert isinstance(score, float) and low <= score <= high


def test_load_analogies():
    qs = load_analogies()
    raw = (REPO_DATA / "questions-words.txt").read_text(encoding="utf-8").splitlines()
    assert len(qs) == sum(1 for line in raw if line.strip() and not line.startswith(":"))
    sections = Counter(q[0] for q in qs)
    assert list(sections) == [line[1:].strip() for line in raw if line.startswith(":")]
    assert ("capital-common-countries", "Athens", "Greece", "Baghdad", "Iraq") in qs
    assert all(len(q) == 5 and all(isinstance(x, str) for x in q) for q in qs)


@pytest.mark.parametrize("call", [lambda: load_text("hamlet"), lambda: load_similarity("men"),
                                  lambda: load_sentences(3), lambda: datasets.path("nope.txt")])
def test_unknown_names_list_the_choices(call):
    with pytest.raises(ValueError, match="expected one of"):
        call()


# --- the failure paths, on a private copy of the data folder -------------------------------------

@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    for name in FILES:
        shutil.copy(REPO_DATA / name, tmp_path / name)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


def test_copy_loads(data_copy):
    assert datasets.data_dir() == data_copy
    assert len(load_similarity("wordsim353")) == 353


def test_altered_file_is_named_with_expected_checksum(data_copy):
    target = data_copy / "wordsim353.tsv"
    data = bytearray(target.read_bytes())
    data[-2] = ord("0") if data[-2] != ord("0") else ord("1")  # same size, one byte changed
    target.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as info:
        load_similarity("wordsim353")
    msg = str(info.value)
    assert "wordsim353.tsv has been altered" in msg
    assert FILES["wordsim353.tsv"].sha256 in msg
    assert hashlib.sha256(bytes(data)).hexdigest() in msg
    assert "python datasets/build.py" in msg
    assert str(data_copy) not in msg  # no absolute paths in what a learner sees
    assert isinstance(info.value, ValueError)
    # the other files are unaffected
    assert len(load_similarity("simlex999")) == 999


def test_altered_text_file(data_copy):
    with (data_copy / "shakespeare.txt").open("a", encoding="utf-8") as f:
        f.write("THE END\n")
    with pytest.raises(DatasetError, match="shakespeare.txt has been altered"):
        load_text("shakespeare")


def test_missing_file_says_which_and_how_to_rebuild(data_copy):
    (data_copy / "questions-words.txt").unlink()
    assert missing_files() == ["questions-words.txt"]
    with pytest.raises(DatasetError) as info:
        load_analogies()
    msg = str(info.value)
    assert "questions-words.txt is missing" in msg and "python datasets/build.py" in msg
    assert str(data_copy) not in msg


def test_restored_file_loads_again(data_copy):
    target = data_copy / "simlex999.txt"
    good = target.read_bytes()
    target.write_bytes(good + b"x")
    with pytest.raises(DatasetError):
        load_similarity("simlex999")
    target.write_bytes(good)
    assert len(load_similarity("simlex999")) == 999
