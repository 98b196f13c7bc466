"""Sphinx configuration of the book (``python -m book`` passes this folder as ``-c``).

Everything the pages load ships in PyPI packages (Sphinx, myst-nb, sphinx-book-theme): no CDN, no theme
download, so the build and the site work offline. tests/test_book.py checks that no page loads a script,
style or font from elsewhere.
"""

project = "fslib"
author = "the fslib authors"
html_title = "fslib: an online feature store on Redis"

extensions = ["myst_nb"]
root_doc = "index"

# book.execute has run every notebook: render the outputs it stored, never run them again.
nb_execution_mode = "off"
# myst-nb loads require.js and the ipywidgets HTML manager from CDNs on pages with widget state; there is
# no offline copy on PyPI, so widget views are not rendered and each widget output shows its richest
# static form instead: text/html when the object provides one, else its text.
nb_ipywidgets_js: dict[str, dict[str, str]] = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,  # the executed .ipynb, outputs included
}
