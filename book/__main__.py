"""``python -m book`` (``make book``): execute every notebook once, then build the static site from the outputs."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from book.execute import NotebookFailedError, execute_notebook, notebooks
from book.site import ROOT, SiteBuildError, build_html, write_sources

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Build the book; print where it is and how to open it.

    Returns:
        0 when the site was built, 1 when a notebook or Sphinx failed (the message says which).
    """
    parser = argparse.ArgumentParser(prog="python -m book", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book", help="where the site goes (%(default)s)")
    parser.add_argument(
        "--reuse-executed", action="store_true", help="skip execution: build from the notebooks the last run executed"
    )
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    try:
        executed = _executed(ROOT / "notebooks", out / "executed", reuse=args.reuse_executed)
        write_sources(out / "src", executed)
        build_html(out / "src", out / "html", out / "doctrees")
    except (NotebookFailedError, SiteBuildError, FileNotFoundError) as exc:
        print(f"book: error: {exc}", file=sys.stderr)
        return 1
    index = out / "html" / "index.html"
    print(f"book: {index}")
    print(
        f"open it: python -m http.server --bind 127.0.0.1 --directory {out / 'html'} 8000, then http://127.0.0.1:8000"
    )
    print(f"     or: {index.as_uri()}")
    return 0


def _executed(sources: Path, folder: Path, *, reuse: bool) -> list[Path]:
    """Execute every notebook of ``sources`` into ``folder``, or (``reuse``) find the copies executed last time.

    Raises:
        FileNotFoundError: ``reuse`` and a notebook has no executed copy.
    """
    targets = [folder / source.name for source in notebooks(sources)]
    if reuse:
        missing = [target.name for target in targets if not target.is_file()]
        if missing:
            raise FileNotFoundError(f"not executed yet: {', '.join(missing)} (run without --reuse-executed)")
        return targets
    shutil.rmtree(folder, ignore_errors=True)  # no page of a notebook that is gone
    folder.mkdir(parents=True)
    for source, target in zip(notebooks(sources), targets):
        print(f"book: executing {source.name} ...", end=" ", flush=True)
        run = execute_notebook(source, target)
        print(f"{run.seconds:.0f} s on Redis {run.redis_version}", flush=True)
    return targets


if __name__ == "__main__":
    sys.exit(main())
