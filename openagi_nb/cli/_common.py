"""What the subcommands share: duration and URL arguments, argparse validators, a progress bar."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["URL_HELP", "add_server_url", "checked", "parse_duration", "positive_int", "progress",
           "rotate", "server_url"]


def parse_duration(text: str) -> float:
    """Seconds in ``"90"``, ``"90s"``, ``"10m"``, ``"90min"``, ``"1h30m"``, ``"36h"``, ``"7d"``
    (for ``--duration``)."""
    from ..durations import positive

    if text.replace(".", "", 1).isdigit():
        text += "s"  # a plain number counts seconds
    try:
        return positive(text, "duration").total_seconds()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r} (try 90s, 10m, 1h, 7d)") from None


def positive_int(text: str) -> int:
    """A whole number of at least 1 (for counts such as ``--nodes``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


@contextmanager
def progress(total: int | None, unit: str, desc: str) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on a terminal, nothing otherwise; yields ``update(done_so_far)``."""
    if not sys.stderr.isatty():
        yield lambda done: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, unit_scale=True, desc=desc, leave=False) as bar:
        def update(done: int) -> None:
            bar.update(done - bar.n)

        yield update



def checked(
    check: Callable[[str], object], refused: type[Exception] = ValueError
) -> Callable[[str], str]:
    """An argparse ``type=`` that keeps the text once ``check`` accepts it, and turns the
    error (``refused``) of one it refuses into argparse's usage error (exit 2)."""
    def parse(text: str) -> str:
        try:
            check(text)
        except refused as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


URL_HELP = ("the server: http://host:port as serve prints it, ws://host:port, or the API's "
            "ws://host:port/api/v1/ws")


def add_server_url(parser: argparse.ArgumentParser, more: str = "") -> None:
    """The ``url`` argument of the subcommands that talk to a server: every form is taken,
    anything else refused at once (exit 2) saying what was not understood."""
    parser.add_argument("url", type=server_url, help=URL_HELP + more)


def server_url(text: str) -> str:
    from ..stream._urls import websocket_url

    return checked(websocket_url)(text)


def rotate(text: str) -> str:
    from ..stream._rotation import parse_rotate

    return checked(parse_rotate)(text)
