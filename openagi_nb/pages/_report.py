"""Shareable reports: a notebook executed on a capture (papermill), written as one
self-contained HTML page without code (nbconvert) that draws its figures offline.

:func:`report` checks everything it can before a kernel starts (the notebook, the capture, the
parameters, where to write), then runs the notebook (``_execute``) and writes its page
(``_html``). papermill and nbconvert come with the ``pages`` extra and are imported only here,
when a report is made.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from ..capture import StrPath, iter_lines, open_dataset
from ..exceptions import CaptureError, InvalidMessage, ReportError
from ..model import parse

__all__ = ["NOTEBOOKS", "REPORTS", "notebook_path", "report"]


def _notebooks() -> Path:
    """The folder of the bundled notebooks: ``openagi_nb/notebooks`` in an installed wheel,
    the repository's ``notebooks/`` in a source checkout (editable installs included)."""
    package = Path(__file__).resolve().parents[1]
    candidates = (package / "notebooks", package.parent / "notebooks")
    return next((d for d in candidates if (d / "02_security_audit.ipynb").is_file()),
                candidates[0])


NOTEBOOKS: Final = _notebooks()
REPORTS: Final[Mapping[str, Path]] = MappingProxyType({
    "consensus": NOTEBOOKS / "03_consensus_review.ipynb",
    "monitoring": NOTEBOOKS / "01_monitoring_metrics.ipynb",
    "security": NOTEBOOKS / "02_security_audit.ipynb",
})
"""The named reports (``openagi-nb report --notebook NAME``) and their notebooks' paths."""

DEFAULT_TIMEOUT: Final = 600.0
PROBE_LINES: Final = 20
"""A capture none of whose first lines is a message is refused before a kernel starts."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def report(capture: StrPath, notebook: str | Path = "security", output: StrPath = "report.html",
           *, parameters: Mapping[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT,
           keep_notebook: StrPath | None = None) -> Path:
    """Run a report notebook on a capture and write it as one HTML file to share: no code,
    figures drawn offline (plotly.js inline, once), nothing fetched from the network.

    Use it to hand an audit to someone without Jupyter: the page opens in any browser, from an
    e-mail or a ticket. The notebook runs in a fresh kernel (papermill) in its own folder with
    ``CAPTURE`` injected after its ``parameters`` cell; its live section stays off (the kernel
    does not see ``OPENAGI_NB_URL`` or ``OPENAGI_NB_TOKEN``) unless ``parameters`` give
    ``LIVE_URL``. What cells print is left out of the page (see ``_html``).

    Args:
        capture: the capture to report on (``.jsonl``, ``.jsonl.gz``, a directory or glob of
            pieces, a Parquet dataset), as ``load_capture`` reads it.
        notebook: a name of :data:`REPORTS` (``"security"``, ``"monitoring"``,
            ``"consensus"``) or the path of any ``.ipynb`` whose ``parameters`` cell sets
            ``CAPTURE``.
        output: the HTML file to write (its folder must exist).
        parameters: more of the notebook's parameters, by name (``{"LIVE_SECONDS": 10}``).
        timeout: seconds any one cell may run.
        keep_notebook: also write the executed notebook there (with the traceback, on failure).

    Returns:
        The path of the HTML file.

    Raises:
        ReportError: an unknown notebook or parameter, a folder that does not exist, or
            papermill or nbconvert missing.
        CaptureError: the capture does not exist or is not one.
        NotebookFailed: a cell raised or ran out of time, or the kernel died.
    """
    _require_extra()
    from ._execute import execute, kernel_environment

    source = notebook_path(notebook)
    where = _capture(capture)
    asked = _parameters(source, parameters or {})
    out, keep = _writable(output), _writable(keep_notebook) if keep_notebook else None
    live = asked.get("LIVE_URL") is not None
    started = time.monotonic()
    nb = execute(source, {"CAPTURE": where, **asked}, timeout=timeout, keep=keep,
                 env=kernel_environment(where, live=live))
    page = _page(nb, source, Path(where).name, live, time.monotonic() - started)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out


def _require_extra() -> None:
    """papermill and nbconvert are there (the ``pages`` extra), or a ReportError says how to
    install them."""
    try:
        import nbconvert  # noqa: F401
        import papermill  # noqa: F401
    except ImportError as exc:
        raise ReportError(f"reports need papermill and nbconvert ({exc.name} is missing): "
                          "pip install 'openagi-nb[pages]'") from exc


def notebook_path(notebook: str | Path) -> Path:
    """The notebook a report name (:data:`REPORTS`) or a path names.

    Raises:
        ReportError: neither a name nor an existing ``.ipynb`` file; the message lists the
            names.
    """
    if isinstance(notebook, str) and notebook in REPORTS:
        path = REPORTS[notebook]
        if not path.is_file():
            raise ReportError(f"the {notebook} notebook is not installed: {path} is missing")
        return path
    path = Path(notebook).expanduser()
    names = ", ".join(sorted(REPORTS))
    if path.suffix != ".ipynb":
        raise ReportError(f"unknown notebook {str(notebook)!r}: give one of {names}, "
                          "or the path of an .ipynb file")
    if not path.is_file():
        raise ReportError(f"notebook {path} does not exist (or give one of {names})")
    return path.absolute()


def _capture(capture: StrPath) -> str:
    """The capture's absolute path, once it is known to hold messages (the kernel runs in the
    notebook's folder, where a relative path would name another file)."""
    path = Path(capture).expanduser()
    if path.is_dir() and any(path.glob("channel=*")):  # a Parquet dataset
        open_dataset(path)
        return str(path.absolute())
    reasons = []
    for number, line in itertools.islice(iter_lines(path), PROBE_LINES):
        try:
            parse(line)
            return str(path.absolute())
        except InvalidMessage as exc:
            reasons.append(f"line {number}: {exc.reason}")
    if not reasons:
        raise CaptureError("not a capture: it holds no messages", path=str(capture))
    lines = ("its only line is not" if len(reasons) == 1 else
             f"none of its {'first ' if len(reasons) == PROBE_LINES else ''}{len(reasons)} "
             "lines is")
    raise CaptureError(f"not a capture: {lines} a message ({reasons[0]})", path=str(capture))


def _parameters(notebook: Path, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given``, checked against the notebook's parameters; ``LIVE_URL = None`` added when the
    notebook has that parameter and the caller did not give it (the live section stays off)."""
    from ._execute import parameters_of

    known = parameters_of(notebook)
    if "CAPTURE" not in known:
        raise ReportError(f"{notebook.name} has no CAPTURE parameter: a report needs a code "
                          "cell tagged 'parameters' that sets CAPTURE")
    if "CAPTURE" in given:
        raise ReportError("CAPTURE is the report's capture argument, not one of its parameters")
    for name in given:
        if not _NAME.match(name):
            raise ReportError(f"{name!r} is not a parameter name (a Python identifier)")
        if name not in known:
            shown = ", ".join(sorted(n for n in known if n != "CAPTURE")) or "only CAPTURE"
            raise ReportError(f"{notebook.name} has no parameter {name!r}: its parameters "
                              f"are {shown}")
    defaults = {"LIVE_URL": None} if "LIVE_URL" in known else {}
    return {**defaults, **given}


def _writable(path: StrPath) -> Path:
    """``path``, when its folder exists and it is not itself a folder."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise ReportError(f"cannot write {out}: it is a directory")
    if not out.absolute().parent.is_dir():
        raise ReportError(f"cannot write {out}: directory {out.absolute().parent} does not exist")
    return out


def _page(nb: Any, source: Path, capture: str, live: bool, seconds: float) -> str:
    """The HTML of the executed ``nb``, titled by its first heading and the capture's name."""
    from ._html import to_html

    heading = next((line.lstrip("#").strip() for cell in nb.cells
                    if cell.cell_type == "markdown" for line in cell.source.splitlines()
                    if line.startswith("# ")), source.stem)
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    footer = (f"{source.name} run on the capture {capture} by openagi-nb in {seconds:.0f} s, "
              f"{made}" + (", with its live section" if live else ""))
    return to_html(nb, live=live, title=f"{heading} ({capture})", footer=footer)
