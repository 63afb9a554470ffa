"""(Re)execute the notebooks and store their outputs, the way they are committed.

::

    .venv/bin/python tools/run_notebooks.py                 # every notebook in notebooks/
    .venv/bin/python tools/run_notebooks.py notebooks/01_monitoring_metrics.ipynb
    .venv/bin/python tools/run_notebooks.py --no-live       # without a replay server

Run it after changing a notebook, or anything whose results a notebook shows, then commit the
notebooks: ``pytest --nbval`` compares what they compute with what they store.

For the live sections it starts a replay server over the capture (the bundled one by default)
exactly as ``pytest --openagi-capture`` does (:class:`openagi_nb.pytest_plugin.ReplayEnvironment`),
so the kernels see ``OPENAGI_NB_URL``, ``OPENAGI_NB_TOKEN`` and ``OPENAGI_NB_CAPTURE``. Each
notebook runs top to bottom in a fresh kernel in its own folder (nbclient), and is written back
with its outputs but without widget state or timing metadata, which would only make diffs noisy.
Exits non-zero when a cell fails or a notebook is over :data:`MAX_BYTES`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Final

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from openagi_nb.pytest_plugin import DEFAULT_SPEED, ReplayEnvironment
from openagi_nb.server import parse_speed

ROOT: Final = Path(__file__).resolve().parents[1]
NOTEBOOKS: Final = ROOT / "notebooks"
SAMPLE: Final = ROOT / "data" / "sample_capture.jsonl.gz"
MAX_BYTES: Final = 2_000_000
CELL_TIMEOUT: Final = 600


def execute(path: Path) -> int:
    """Run the notebook at ``path`` in place; return its size in bytes.

    Raises:
        CellExecutionError: a cell raised (the notebook is not written).
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(path.parent)}},
        record_timing=False, store_widget_state=False,
    )
    client.execute()
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    """Execute the notebooks named (default: all in this folder); 0 when all ran clean."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all)")
    parser.add_argument("--capture", type=Path, default=SAMPLE, help="capture to replay")
    parser.add_argument("--speed", type=parse_speed, default=DEFAULT_SPEED,
                        help=f"replay speed (default {DEFAULT_SPEED:g})")
    parser.add_argument("--no-live", action="store_true", help="no replay server")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    replay = None if args.no_live else ReplayEnvironment(args.capture, args.speed).start()
    failed = 0
    try:
        for path in paths:
            failed += not _run_one(path)
    finally:
        if replay is not None:
            replay.stop()
    return 1 if failed else 0


def _run_one(path: Path) -> bool:
    began = time.monotonic()
    try:
        size = execute(path)
    except CellExecutionError as exc:
        print(f"{path.name}: FAILED\n{exc}", file=sys.stderr)
        return False
    print(f"{path.name}: {size / 1e6:.2f} MB in {time.monotonic() - began:.1f} s")
    if size > MAX_BYTES:
        print(f"{path.name}: over {MAX_BYTES / 1e6:g} MB", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
