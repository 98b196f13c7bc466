"""The notebooks as a static site (``make book``, ``python -m book``).

:mod:`book.execute` runs every notebook once, in its own folder, and records when and on which Redis;
:mod:`book.site` lays out the Sphinx sources (the README as the landing page, the executed notebooks in
reading order) and builds the HTML with ``conf.py`` beside this file: offline, from PyPI packages only.
"""

__all__: list[str] = []
