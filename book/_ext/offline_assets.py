"""Serve the book's scripts (require.js, the ipywidgets HTML manager, MathJax) from the site.

Sphinx puts every relative script path under ``_static/``, and Jupyter Book's theme
loads what is there again, so the vendored files live in ``_assets/`` instead:

* ``builder-inited`` copies the folder named by ``offline_assets_dir`` (prepared by
  ``book/build.py`` from npm packages) to ``<html>/_assets``;
* ``html-page-context`` (run last) rewrites every script registered as
  ``_offline/<file>`` (``mathjax_path``, ``nb_ipywidgets_js`` in ``_config.yml``) to
  ``_assets/<file>``; Sphinx then writes it as a path relative to the page.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.builders.html._assets import _JavaScript
from sphinx.errors import ConfigError

MARK = "_static/_offline/"
TARGET = "_assets/"


def _copy_assets(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    src = Path(app.config.offline_assets_dir or "")
    if not app.config.offline_assets_dir or not src.is_dir():
        raise ConfigError(f"offline_assets_dir should name the folder of vendored scripts, got {str(src)!r}; "
                          "build the book with `python -m book.build`")
    shutil.copytree(src, Path(app.outdir) / TARGET, dirs_exist_ok=True)


# ipywidgets' HTML manager typesets widget labels with MathJax 2's ``MathJax.Hub.Queue``;
# MathJax 3 has no ``Hub``. This adapter forwards such calls to MathJax 3's typesetPromise.
MATHJAX2_SHIM = """document.addEventListener("DOMContentLoaded", function () {
  var MJ = window.MathJax;
  if (!MJ || MJ.Hub) { return; }
  MJ.Hub = {Queue: function () {
    for (var i = 0; i < arguments.length; i++) {
      var job = arguments[i];
      if (Array.isArray(job) && job[0] === "Typeset" && MJ.typesetPromise) {
        MJ.typesetPromise(job[2] ? [job[2]] : undefined).catch(function () {});
      }
    }
  }};
});"""

# Scripts we do not serve: thebe would fetch its code from a CDN (and sphinx-thebe emits its
# settings twice, a redeclaration error); the book has no kernel to connect to anyway.
DROPPED = ("sphinx-thebe.js",)
DROPPED_BODY = "THEBE_JS_URL"


def _relocate(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    files = context.get("script_files")
    if not files:
        return
    pathto = context["pathto"]
    out = []
    for js in files:
        name = os.fspath(getattr(js, "filename", js) or "")
        if name.endswith(DROPPED) or DROPPED_BODY in getattr(js, "attributes", {}).get("body", ""):
            continue
        if not name.startswith(MARK):
            out.append(js)
            continue
        rest = name[len(MARK):]
        priority = getattr(js, "priority", 500)
        out.append(_JavaScript(TARGET + rest, priority=priority, **dict(getattr(js, "attributes", {}))))
        if rest == "require.js":
            # The widget bundles find their fonts next to the AMD modules that load them; point
            # require.js at our copy, relative to this page, before that module loads.
            widgets = pathto(TARGET + "widgets", 1)
            paths = {"@jupyter-widgets": widgets, "@jupyter-widgets/html-manager/dist": widgets}
            config = "require.config({paths: %s});" % json.dumps(paths)
            out.append(_JavaScript("", priority=priority, body=config))
            out.append(_JavaScript("", priority=priority, body=MATHJAX2_SHIM))
    files[:] = out


def setup(app: Sphinx) -> dict:
    app.add_config_value("offline_assets_dir", "", "html")
    app.connect("builder-inited", _copy_assets)
    app.connect("html-page-context", _relocate, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
