"""Run every benchmark in this folder, one after the other, in fresh processes.

    python benchmarks/run_all.py            # all of them
    python benchmarks/run_all.py attention  # only benchmarks/attention.py

Each benchmark prints a table of ratios against a peer (gensim, torch, transformers)
measured in the same run, so the numbers compare fairly on whatever machine runs them.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    if names:
        scripts = [p for p in scripts if p.stem in names]
        if not scripts:
            raise SystemExit(f"no benchmark named {names}; have {[p.stem for p in HERE.glob('*.py')]}")
    failed = 0
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        failed += subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
