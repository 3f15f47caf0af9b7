"""Build the course book: a static HTML site of every chapter that works offline.

    python -m book.build                     # all chapters/NN_*.ipynb -> book/_build/html
    python -m book.build --chapters a.ipynb b.ipynb --out /tmp/site

Steps:

1. **Vendor the scripts** the pages need, from npm, once (cached in ``book/_build/npm``):
   require.js, the ipywidgets HTML manager (``@jupyter-widgets/html-manager``, which
   renders the widget state stored in the notebooks, no kernel needed) and MathJax 3.
   Versions are pinned in ``book/package.json`` and, with every dependency's checksum, in the
   committed ``book/package-lock.json``, which ``npm ci`` installs exactly.
2. **Stage** ``_config.yml``, ``_toc.yml``, ``intro.md``, ``_ext/`` and the chapter
   notebooks (copied, with their stored outputs) in ``book/_build/src``.
3. **Build** with Jupyter Book 1.x (Sphinx). The local extension ``_ext/offline_assets.py``
   copies the vendored scripts to the site's ``_assets/`` folder and points the pages at them.
4. **Check** that no page loads a script, style sheet or font from another host.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tools.labs import find_chapters as _chapters_in  # the one definition of a chapter notebook

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
BUILD = BOOK / "_build"
STAGED_FILES = ("_config.yml", "_toc.yml", "intro.md")

# What the site needs from each npm package: (package, path inside it, path under _assets/).
VENDORED = [
    ("requirejs", "require.js", "require.js"),
    ("@jupyter-widgets/html-manager", "dist", "widgets"),
    ("mathjax", "es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js"),
    ("mathjax", "es5/output/chtml/fonts", "mathjax/output/chtml/fonts"),
    ("mathjax", "es5/input/tex/extensions", "mathjax/input/tex/extensions"),
    ("mathjax", "es5/a11y", "mathjax/a11y"),
    ("mathjax", "es5/ui", "mathjax/ui"),
    ("mathjax", "es5/sre", "mathjax/sre"),
]

# Left out of the copied folders: source maps, type declarations, and the html-manager's
# other bundles (embed-amd.js already defines libembed-amd; embed.js is the non-AMD twin).
NOT_VENDORED = ("*.map", "*.d.ts", "embed.js", "libembed-amd.js")

# A page must not load anything from another host: scripts, style sheets, fonts, images.
_EXTERNAL = re.compile(
    r"""<(?:script|img|iframe)\b[^>]*\bsrc\s*=\s*["'](?:https?:)?//[^"']+["']"""
    r"""|<link\b[^>]*\bhref\s*=\s*["'](?:https?:)?//[^"']+["'][^>]*>"""
    r"""|url\(\s*["']?(?:https?:)?//[^)]+\)""",
    re.IGNORECASE,
)


def find_chapters() -> list[Path]:
    """Every chapter notebook ``chapters/NN_name.ipynb``, in course order."""
    return _chapters_in(ROOT / "chapters")


def vendor_assets(cache: Path = BUILD / "npm") -> Path:
    """Install the locked npm packages into ``cache`` (once, ``npm ci``) and return the folder of site assets."""
    package_json = (BOOK / "package.json").read_text(encoding="utf-8")
    lock = (BOOK / "package-lock.json").read_text(encoding="utf-8")
    assets, stamp = cache / "assets", cache / "assets.stamp"
    recipe = package_json + lock + repr(VENDORED) + repr(NOT_VENDORED)
    if assets.is_dir() and stamp.is_file() and stamp.read_text(encoding="utf-8") == recipe:
        return assets
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("book: npm is needed once, to fetch require.js, the ipywidgets HTML manager and "
                         "MathJax into book/_build/npm (from the npm registry). Install Node.js/npm "
                         "(Debian: apt-get install npm) and run `make book` again.")
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "package.json").write_text(package_json, encoding="utf-8")
    (cache / "package-lock.json").write_text(lock, encoding="utf-8")
    # `npm ci`: exactly the versions and checksums of the lockfile, and an error if it disagrees
    # with package.json (regenerate it with `npm install --package-lock-only` in book/)
    cmd = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
    r = subprocess.run(cmd, cwd=cache, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"book: `{' '.join(cmd)}` failed in {cache}:\n{r.stdout}\n{r.stderr}")
    if assets.exists():
        shutil.rmtree(assets)
    for package, inside, target in VENDORED:
        src, dest = cache / "node_modules" / package / inside, assets / target
        if not src.exists():
            raise SystemExit(f"book: {package} has no {inside} (looked for {src}); check book/package.json")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*NOT_VENDORED))
        else:
            shutil.copy2(src, dest)
    stamp.write_text(recipe, encoding="utf-8")
    return assets


def stage(chapters: list[Path], src: Path, assets: Path) -> Path:
    """Copy the book's own files and the chapters into ``src``; point the config at ``assets``."""
    if src.exists():
        shutil.rmtree(src)
    (src / "chapters").mkdir(parents=True)
    for name in STAGED_FILES:
        shutil.copy2(BOOK / name, src / name)
    shutil.copytree(BOOK / "_ext", src / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    config = yaml.safe_load((src / "_config.yml").read_text(encoding="utf-8"))
    config["sphinx"]["config"]["offline_assets_dir"] = str(assets.resolve())
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    for nb in chapters:
        shutil.copy2(nb, src / "chapters" / nb.name)
    return src


def external_references(html_dir: Path) -> list[str]:
    """``file: reference`` for everything a page or style sheet would fetch from another host."""
    found = []
    for path in sorted(html_dir.rglob("*")):
        if path.suffix not in (".html", ".css") or "_assets" in path.relative_to(html_dir).parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(html_dir)}: {m.group(0)[:160]}" for m in _EXTERNAL.finditer(text)]
    return found


def build(chapters: list[Path] | None = None, out: Path = BUILD / "html", *,
          work: Path = BUILD, cache: Path = BUILD / "npm", quiet: bool = False) -> Path:
    """Build the book of ``chapters`` (default: all) into ``out`` and return ``out``."""
    chapters = [Path(c).resolve() for c in (chapters if chapters is not None else find_chapters())]
    missing = [str(c) for c in chapters if not c.is_file()]
    if missing:
        raise SystemExit(f"book: chapter notebooks not found: {', '.join(missing)}")
    assets = vendor_assets(cache)
    src = stage(chapters, work / "src", assets)
    site = work / "site"
    if site.exists():
        shutil.rmtree(site)
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(src), "--path-output", str(site),
           "--builder", "html", "--keep-going"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if not quiet or r.returncode != 0:
        print(r.stdout[-4000:], r.stderr[-4000:], sep="\n")
    html = site / "_build" / "html"
    if r.returncode != 0 or not (html / "index.html").is_file():
        raise SystemExit(f"book: jupyter-book failed (exit {r.returncode}); see the log above")
    bad = external_references(html)
    if bad:
        raise SystemExit("book: pages would load things from the network:\n  " + "\n  ".join(bad[:20]))
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    shutil.move(str(html), str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m book.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="+", type=Path, help="notebooks to build (default: chapters/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=BUILD / "html", help="where the site goes")
    parser.add_argument("--work", type=Path, default=BUILD, help="scratch folder for the staged sources")
    parser.add_argument("--quiet", action="store_true", help="print Jupyter Book's log only on failure")
    args = parser.parse_args(argv)
    start = time.monotonic()
    out = build(args.chapters, args.out, work=args.work, quiet=args.quiet)
    pages = len(list(out.rglob("*.html")))
    print(f"book: {pages} pages in {out} ({time.monotonic() - start:.0f} s); open {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
