"""Subcommands that make pages for people: ``report``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._common import checked, parse_duration

__all__ = ["add_report", "parameter_value"]


def parameter_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value typed as papermill's own ``-p`` types it: ``None``, ``True``,
    ``False``, an int, a float, else the text."""
    constants = {"None": None, "True": True, "False": False}
    if text in constants:
        return constants[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _notebook(text: str) -> str:
    """``--notebook``: a report name or an .ipynb file (usage error, exit 2, otherwise)."""
    from ..exceptions import ReportError
    from ..pages._report import notebook_path

    return checked(notebook_path, ReportError)(text)


def _report(args: argparse.Namespace) -> int:
    from ..pages import report

    parameters = {name: parameter_value(value) for name, value in args.parameter or ()}
    started = time.monotonic()
    out = report(args.capture, args.notebook, args.output, parameters=parameters,
                 timeout=args.timeout, keep_notebook=args.keep_notebook)
    kept = f"; the executed notebook is {args.keep_notebook}" if args.keep_notebook else ""
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): the {args.notebook} report on "
          f"{args.capture}, in {time.monotonic() - started:.0f} s{kept}")
    return 0


def add_report(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="run a report notebook on a capture and write one self-contained HTML "
                       "file without code, its figures drawn offline")
    p.add_argument("capture", help=".jsonl, .jsonl.gz, a directory (or glob) of them, or a "
                                   "Parquet dataset")
    p.add_argument("--notebook", type=_notebook, default="security",
                   help="security, monitoring, consensus (default security), or the path of "
                        "an .ipynb whose 'parameters' cell sets CAPTURE")
    p.add_argument("-o", "--output", default="report.html",
                   help="the HTML file to write (default report.html)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="another parameter of the notebook, typed as papermill types it "
                        "(repeat it); -p LIVE_URL http://host:port runs the live section")
    p.add_argument("--keep-notebook", default=None, metavar="PATH",
                   help="also write the executed notebook (.ipynb) there")
    p.add_argument("--timeout", type=parse_duration, default=600.0,
                   help="how long one cell may run, e.g. 90s, 10m (default 10m)")
    p.set_defaults(handler=_report)
