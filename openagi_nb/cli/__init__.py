"""``openagi-nb``: the command line, a thin shell over the library.

Each subcommand parses its options, calls one library function and prints; our exceptions become
one line on stderr and a non-zero exit (1 for a failure, 2 for bad usage), never a traceback.
This package is the only place that prints; its modules group the subcommands by what they work
on (``_data``: captures and datasets; ``_live``: servers and streams; ``_reports``: reports
for people).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..exceptions import OpenAGIError
from ._common import parse_duration
from ._data import add_convert, add_generate, add_inspect
from ._live import add_record, add_serve, add_token
from ._pages import add_dashboard
from ._reports import add_report

__all__ = ["build_parser", "main", "parse_duration"]

Handler = Callable[[argparse.Namespace], int]

PARSERS: list[Callable[[Any], None]] = [
    add_generate, add_inspect, add_convert, add_serve, add_token, add_record, add_dashboard,
    add_report,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``openagi-nb`` argument parser with every subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="openagi-nb", description="Jupyter toolkit for Open-A.G.I event streams."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in PARSERS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``openagi-nb``; return the exit code."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except OpenAGIError as exc:
        print(f"openagi-nb {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"openagi-nb {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `openagi-nb inspect x | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
