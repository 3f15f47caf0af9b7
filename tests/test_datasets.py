"""course_lib.datasets: shipped files load, checksums are verified, bad files are explained."""
from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pytest

from course_lib import datasets
from course_lib.datasets import (FILES, DatasetError, gpt2_files, load_analogies, load_sentences,
                                 load_similarity, load_text, missing_files, sha256)

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


def test_sha256_is_hashlibs_and_build_uses_it():
    import importlib.util

    target = REPO_DATA / "wordsim353.tsv"
    assert sha256(target) == hashlib.sha256(target.read_bytes()).hexdigest()
    spec = importlib.util.spec_from_file_location("datasets_build", REPO_DATA / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.sha256 is sha256  # one checksum function, not two


def test_gpt2_files_are_the_ones_tiktoken_expects():
    import json
    import re

    from _needs import needs_module

    tiktoken_ext = needs_module("tiktoken_ext.openai_public")
    source = Path(tiktoken_ext.__file__).read_text(encoding="utf-8")
    encoder_json, vocab_bpe = gpt2_files()
    assert re.search(r'encoder_json_hash="%s"' % sha256(encoder_json), source)
    assert re.search(r'vocab_bpe_hash="%s"' % sha256(vocab_bpe), source)
    assert len(json.loads(encoder_json.read_text(encoding="utf-8"))) == 50_257
    lines = vocab_bpe.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#version") and len([x for x in lines[1:] if x]) == 50_000


def test_tang_follows_its_recipe():
    text = load_text("tang")
    poems = text.split("\n\n")
    assert text.endswith("\n") and not text.endswith("\n\n") and len(text) <= 360_000
    assert poems[0].splitlines()[:2] == ["帝京篇十首 一", "太宗皇帝"]
    assert all(len(p.strip("\n").splitlines()) >= 3 for p in poems)  # title, author, >= 1 line each
    assert 0.9e6 < len(text.encode("utf-8")) < 1.1e6


def test_reviews_follow_their_recipe():
    from course_lib.datasets import load_reviews

    rows = {s: load_reviews(s) for s in ("train", "val", "test")}
    assert [len(r) for r in rows.values()] == [13_886, 1_720, 1_757]
    every = load_reviews()
    assert len(every) == 17_363 and sum(lab for _, lab in every) == 8_332
    texts = [t for t, _ in every]
    assert len(set(texts)) == len(texts)                      # one label per distinct text, no duplicates
    assert all(t == t.strip() and t and "\t" not in t for t in texts)
    for split, residues in (("test", {0}), ("val", {1}), ("train", set(range(2, 10)))):
        assert all(int(hashlib.sha256(t.encode("utf-8")).hexdigest(), 16) % 10 in residues for t, _ in rows[split])
    with pytest.raises(DatasetError, match="unknown review split"):
        load_reviews("dev")


def test_load_text_is_the_file():
    for name in ["shakespeare", "wiki", "tang"]:
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
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
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
