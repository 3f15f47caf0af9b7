"""Word embeddings on the wiki text: course_lib against gensim, side by side in one run.

    python benchmarks/embeddings.py            # the full comparison (about 6-10 minutes on 2 idle cores)
    python benchmarks/embeddings.py --quick    # 3 epochs of each, a smoke run

Every model: 100 dimensions, min_count 5. Word2Vec: window 5, negative 5, sample 1e-3,
15 epochs (skip-gram and CBOW), learning rate 0.025 for skip-gram and 0.05 for CBOW (the
C tool's defaults, in both libraries). GloVe: window 10, x_max 10, 25 epochs. PPMI+SVD: window 10.
The table gives WordSim353 and SimLex-999 Spearman rho, analogy accuracy (on covered
questions, restrict_vocab 30000), wall time, CPU time and effective words per second
(words left after subsampling), and the ratios that the course targets are stated in.
The course trainer runs twice: with one torch thread (its default) and with as many
threads as gensim has workers.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from course_lib.datasets import load_analogies, load_sentences, load_similarity  # noqa: E402
from course_lib.evaluation import WordVectors, evaluate_analogies, evaluate_similarity  # noqa: E402
from course_lib.glove import ppmi_svd, train_glove  # noqa: E402
from course_lib.word2vec import train_word2vec  # noqa: E402


def scores(wv: WordVectors) -> dict[str, float]:
    return {"ws353": evaluate_similarity(wv, load_similarity("wordsim353"))[0],
            "simlex": evaluate_similarity(wv, load_similarity("simlex999"))[0],
            "analogy": evaluate_analogies(wv, load_analogies(), restrict_vocab=30000)[0]}


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def run_gensim(sentences, sg: int, epochs: int, workers: int):
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=100, window=5, negative=5, sample=1e-3, min_count=5, sg=sg,
                     workers=workers, seed=0, alpha=0.025 if sg else 0.05)  # the C tool's defaults, as ours
    model.build_vocab(sentences)

    def train():
        return model.train(sentences, total_examples=model.corpus_count, epochs=epochs)

    (effective, _raw), wall, cpu = timed(train)
    wv = WordVectors(list(model.wv.index_to_key), model.wv.vectors)
    return wv, wall, cpu, effective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs of everything (a smoke run)")
    parser.add_argument("--workers", type=int, default=2, help="gensim worker threads (default 2)")
    args = parser.parse_args()
    w2v_epochs, glove_epochs = (3, 3) if args.quick else (15, 25)
    sentences = load_sentences("wiki")
    print(f"wiki: {len(sentences)} articles, {sum(map(len, sentences)):,} words; "
          f"word2vec {w2v_epochs} epochs, GloVe {glove_epochs} epochs; gensim workers={args.workers}", flush=True)
    rows = []
    for sg, name in [(1, "skip-gram"), (0, "CBOW")]:
        g_wv, g_wall, g_cpu, g_eff = run_gensim(sentences, sg, w2v_epochs, args.workers)
        rows.append((f"gensim {name}", scores(g_wv), g_wall, g_cpu, g_eff / g_wall))
        print(rows[-1], flush=True)
        for threads in sorted({1, args.workers}):
            c_wv, c_wall, c_cpu = timed(lambda: train_word2vec(sentences, sg=bool(sg), epochs=w2v_epochs,
                                                              progress=False, threads=threads))
            c_eff = c_wv.info["effective_words"]
            rows.append((f"course {name} ({threads} thr)", scores(c_wv), c_wall, c_cpu, c_eff / c_wall))
            print(rows[-1], flush=True)
    gl, gl_wall, gl_cpu = timed(lambda: train_glove(sentences, window=10, epochs=glove_epochs, progress=False))
    rows.append(("course GloVe", scores(gl), gl_wall, gl_cpu, float("nan")))
    print(rows[-1], flush=True)
    pp, pp_wall, pp_cpu = timed(lambda: ppmi_svd(sentences, window=10))
    rows.append(("course PPMI+SVD (w10)", scores(pp), pp_wall, pp_cpu, float("nan")))

    print(f"\n{'model':28s} {'WS353':>7s} {'SimLex':>7s} {'analogy':>8s} {'wall s':>8s} {'CPU s':>8s} {'eff. words/s':>13s}")
    for name, s, wall, cpu, wps in rows:
        wps_s = "" if np.isnan(wps) else f"{wps:,.0f}"
        print(f"{name:28s} {s['ws353']:7.3f} {s['simlex']:7.3f} {100 * s['analogy']:7.2f}% "
              f"{wall:8.1f} {cpu:8.1f} {wps_s:>13s}")
    by = {name: (s, wall, cpu, wps) for name, s, wall, cpu, wps in rows}
    print("\nratios and differences (course vs gensim, same run):")
    for kind, threads in [(k, t) for k in ["skip-gram", "CBOW"] for t in sorted({1, args.workers})]:
        (gs, _, g_cpu, g_wps), (cs, _, c_cpu, c_wps) = by[f"gensim {kind}"], by[f"course {kind} ({threads} thr)"]
        print(f"  {kind:9s} ({threads} thr): throughput {c_wps / g_wps:.2f}x gensim's effective words/s (target >= 0.33); "
              f"CPU time {c_cpu / g_cpu:.2f}x; WS353 {cs['ws353'] - gs['ws353']:+.3f}, "
              f"SimLex {cs['simlex'] - gs['simlex']:+.3f} (target within 0.05), "
              f"analogy {100 * (cs['analogy'] - gs['analogy']):+.2f} points (target within 1)")
    print(f"  GloVe    : WS353 {by['course GloVe'][0]['ws353']:.3f} (target >= 0.22), "
          f"{gl_wall:.0f} s wall (target <= 2x the C program's ~60 s)")
    print(f"  PPMI+SVD : WS353 {by['course PPMI+SVD (w10)'][0]['ws353']:.3f} (target >= 0.50)")


if __name__ == "__main__":
    main()
