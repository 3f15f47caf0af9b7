"""Word embeddings on the wiki text: course_lib against gensim, side by side in one run.

    python benchmarks/embeddings.py            # the full comparison (about 6-10 minutes on 2 idle cores)
    python benchmarks/embeddings.py --quick    # 3 epochs of each, a smoke run
    python benchmarks/embeddings.py --glove-c ~/src/GloVe   # also the reference GloVe C program,
                                               # from a checkout built with `make`

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def run_glove_c(sentences, checkout: str, epochs: int, threads: int) -> WordVectors:
    """The reference GloVe program (github.com/stanfordnlp/GloVe, built with ``make``) with the course's
    settings: min count 5, symmetric window 10 with 1/d weighting, x_max 10, 100 dimensions, vectors
    W + W~ (its default ``-model 2``). One article per line: the program resets its window at a newline."""
    build = Path(checkout).expanduser() / "build"
    missing = [t for t in ("vocab_count", "cooccur", "shuffle", "glove") if not (build / t).is_file()]
    if missing:
        raise SystemExit(f"--glove-c expected a built GloVe checkout (run `make` in it); {build} lacks {missing}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "corpus.txt").write_text("\n".join(" ".join(s) for s in sentences) + "\n", encoding="utf-8")

        def step(cmd: list[str], stdin: str, stdout: str) -> None:
            with open(tmp / stdin, "rb") as fin, open(tmp / stdout, "wb") as fout:
                subprocess.run([str(build / cmd[0]), *cmd[1:]], stdin=fin, stdout=fout, cwd=tmp, check=True,
                               stderr=subprocess.DEVNULL)

        step(["vocab_count", "-min-count", "5", "-verbose", "0"], "corpus.txt", "vocab.txt")
        step(["cooccur", "-memory", "1.0", "-vocab-file", "vocab.txt", "-verbose", "0", "-window-size", "10"],
             "corpus.txt", "cooc.bin")
        step(["shuffle", "-memory", "1.0", "-verbose", "0", "-seed", "1"], "cooc.bin", "cooc.shuf.bin")
        subprocess.run([str(build / "glove"), "-save-file", "vectors", "-threads", str(threads), "-input-file",
                        "cooc.shuf.bin", "-x-max", "10", "-iter", str(epochs), "-vector-size", "100", "-binary", "0",
                        "-vocab-file", "vocab.txt", "-verbose", "0", "-seed", "1"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        words, rows = [], []
        for line in (tmp / "vectors.txt").read_text(encoding="utf-8").splitlines():
            word, *values = line.split(" ")
            if word != "<unk>":
                words.append(word)
                rows.append(np.array(values, dtype=np.float32))
    return WordVectors(words, np.stack(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs of everything (a smoke run)")
    parser.add_argument("--workers", type=int, default=2, help="gensim worker threads (default 2)")
    parser.add_argument("--glove-c", metavar="DIR", help="a built checkout of the reference GloVe C program: "
                        "run it too, with the same settings")
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
    if args.glove_c:
        gc, gc_wall, _ = timed(lambda: run_glove_c(sentences, args.glove_c, glove_epochs, 1))
        rows.append(("reference GloVe (C, 1 thr)", scores(gc), gc_wall, float("nan"), float("nan")))
        print(rows[-1], flush=True)
    pp, pp_wall, pp_cpu = timed(lambda: ppmi_svd(sentences, window=10))
    rows.append(("course PPMI+SVD (w10)", scores(pp), pp_wall, pp_cpu, float("nan")))

    print(f"\n{'model':28s} {'WS353':>7s} {'SimLex':>7s} {'analogy':>8s} {'wall s':>8s} {'CPU s':>8s} {'eff. words/s':>13s}")
    for name, s, wall, cpu, wps in rows:
        wps_s = "" if np.isnan(wps) else f"{wps:,.0f}"
        cpu_s = "" if np.isnan(cpu) else f"{cpu:8.1f}"
        print(f"{name:28s} {s['ws353']:7.3f} {s['simlex']:7.3f} {100 * s['analogy']:7.2f}% "
              f"{wall:8.1f} {cpu_s:>8s} {wps_s:>13s}")
    by = {name: (s, wall, cpu, wps) for name, s, wall, cpu, wps in rows}
    print("\nratios and differences (course vs gensim, same run):")
    for kind, threads in [(k, t) for k in ["skip-gram", "CBOW"] for t in sorted({1, args.workers})]:
        (gs, _, g_cpu, g_wps), (cs, _, c_cpu, c_wps) = by[f"gensim {kind}"], by[f"course {kind} ({threads} thr)"]
        print(f"  {kind:9s} ({threads} thr): throughput {c_wps / g_wps:.2f}x gensim's effective words/s (target >= 0.33); "
              f"CPU time {c_cpu / g_cpu:.2f}x; WS353 {cs['ws353'] - gs['ws353']:+.3f}, "
              f"SimLex {cs['simlex'] - gs['simlex']:+.3f} (target within 0.05), "
              f"analogy {100 * (cs['analogy'] - gs['analogy']):+.2f} points (target within 1)")
    glove_line = f"  GloVe    : WS353 {by['course GloVe'][0]['ws353']:.3f} (target >= 0.22), {gl_wall:.0f} s wall"
    if args.glove_c:
        ref = by["reference GloVe (C, 1 thr)"]
        glove_line += (f"; the C program: WS353 {ref[0]['ws353']:.3f}, {ref[1]:.0f} s wall "
                       f"(ours {gl_wall / ref[1]:.1f}x its time, target <= 2x)")
    print(glove_line)
    print(f"  PPMI+SVD : WS353 {by['course PPMI+SVD (w10)'][0]['ws353']:.3f} (target >= 0.50)")


if __name__ == "__main__":
    main()
