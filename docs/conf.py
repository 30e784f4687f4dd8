"""Sphinx configuration of the coqui-meta docs (Sphinx + MyST Markdown, as Coqui TTS's own docs).

Build: ``make docs`` (``.venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html``). The references
of the ``meta`` block and of the commands, and the architecture's drawings, are generated at build time into
``docs/_generated/`` by ``docs/_ext/coqui_meta_docs.py`` from the code itself. Nothing is downloaded.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "_ext"))
for path in (ROOT, os.path.join(ROOT, "lab")):  # the source tree, when the package is not installed
    if path not in sys.path:
        sys.path.append(path)

project = "coqui-meta"
author = "the coqui-meta authors"
copyright = "the coqui-meta authors, MPL-2.0"

extensions = ["myst_parser", "coqui_meta_docs"]
source_suffix = {".md": "markdown"}
root_doc = "index"
# _generated/ holds fragments the pages include, not pages of their own
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # GitHub-style anchors (#the-meta-block) for links between pages

html_theme = "alabaster"  # ships with Sphinx: no theme to install, nothing fetched from a CDN
html_title = "coqui-meta"
html_theme_options = {"description": "Meta-learning for Coqui TTS", "page_width": "1100px", "sidebar_width": "240px"}
html_static_path = []
html_last_updated_fmt = None
pygments_style = "sphinx"
smartquotes = False  # keep "--flag" as typed: docutils would turn "--" into a dash
