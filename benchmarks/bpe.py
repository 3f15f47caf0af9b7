"""Chapter 09's tokenizer against its peers, measured in the same process, on one core.

    python benchmarks/bpe.py

* training 4,096 tokens on the 1.1 MB Shakespeare: course_lib.bpe.train against tokenizers'
  BpeTrainer (same settings, same merges: tests/test_bpe.py), both on one thread;
* encoding throughput with GPT-2's tokenizer: course_lib.bpe (its word cache emptied first, and
  again with the cache warm) against tiktoken's gpt2 encoding built from
  the same files, on the Shakespeare, Wikipedia and Tang texts.

Aims (issue 12): training <= 60 s; encoding >= 0.1x tiktoken's throughput. Best of N wall times.
"""
from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")       # tokenizers' thread pool: one core, like ours
os.environ.setdefault("TIKTOKEN_CACHE_DIR", "")        # read the local files, cache nothing

import time  # noqa: E402
from typing import Callable  # noqa: E402

from course_lib import bpe  # noqa: E402
from course_lib.datasets import gpt2_files, load_text  # noqa: E402


def best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def tokenizers_train(text: str, vocab_size: int) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=0, show_progress=False,
                                  special_tokens=[bpe.ENDOFTEXT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text], trainer=trainer)


def tiktoken_gpt2():
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks

    encoder_json, vocab_bpe = gpt2_files()
    ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=str(vocab_bpe), encoder_json_file=str(encoder_json))
    return tiktoken.Encoding("gpt2-local", pat_str=bpe.GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={bpe.ENDOFTEXT: 50256})


def main() -> None:
    shakespeare = load_text("shakespeare")
    t_ours = best_of(lambda: bpe.train(shakespeare, 4096), 2)
    t_peer = best_of(lambda: tokenizers_train(shakespeare, 4096), 2)
    print(f"training 4,096 tokens on {len(shakespeare):,} characters of Shakespeare, one thread")
    print(f"  course_lib.bpe.train {t_ours:7.2f} s   tokenizers BpeTrainer {t_peer:7.2f} s   "
          f"ours/peer time {t_ours / t_peer:6.2f}x   (aim: ours <= 60 s: {'met' if t_ours <= 60 else 'MISSED'})")

    gpt2, tt = bpe.load_gpt2(), tiktoken_gpt2()
    print("\nencoding with GPT-2's tokenizer (50,257 tokens), throughput in MB of UTF-8 per second")
    print(f"{'text':<12} {'MB':>5} {'ours cold':>10} {'ours warm':>10} {'tiktoken':>9} {'cold/tiktoken':>14} "
          f"{'warm/tiktoken':>14}")
    worst = float("inf")
    for name in ("shakespeare", "wiki", "tang"):
        text = load_text(name)
        mb = len(text.encode("utf-8")) / 1e6

        def cold() -> None:
            gpt2._cache.clear()                                      # every distinct word merged afresh
            gpt2.encode(text)

        assert gpt2.encode(text) == tt.encode_ordinary(text)       # same work: same ids
        t_cold, t_warm = best_of(cold, 2), best_of(lambda: gpt2.encode(text), 3)
        t_tt = best_of(lambda: tt.encode_ordinary(text), 3)
        worst = min(worst, t_tt / t_cold)
        print(f"{name:<12} {mb:5.2f} {mb / t_cold:10.2f} {mb / t_warm:10.2f} {mb / t_tt:9.2f} "
              f"{t_tt / t_cold:13.2f}x {t_tt / t_warm:13.2f}x")
    print(f"(aim: ours >= 0.1x tiktoken's throughput, cold cache: {'met' if worst >= 0.1 else 'MISSED'}, "
          f"worst {worst:.2f}x)")


if __name__ == "__main__":
    main()
