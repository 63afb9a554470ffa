"""Subcommands that make pages for people who do not write Python: ``dashboard``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from ._common import add_server_url, checked

__all__ = ["add_dashboard", "window"]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# --- dashboard ----------------------------------------------------------------------------


def _dashboard(args: argparse.Namespace) -> int:
    from ..exceptions import OpenAGIError
    from ..model import CHANNELS
    from ..pages import dashboard

    try:
        with _stopped_by("SIGTERM", "SIGHUP"), dashboard(
            args.url, host=args.host, port=args.port, node_id=args.node_id,
            token=os.environ.get("OPENAGI_NB_TOKEN"), channels=args.channel or CHANNELS,
            window=int(args.window) if args.window.isdigit() else args.window,
        ) as page:
            if args.host not in LOOPBACK:
                print(f"listening on {args.host}: whoever reaches this machine can open the page",
                      file=sys.stderr)
            print(f"serving the dashboard of {page.server} on {page.url} (Ctrl-C stops it)",
                  flush=True)
            code = page.wait()
            raise OpenAGIError(f"voila stopped on its own (exit code {code}); its log ends:\n"
                               f"{page.log_tail()}")
    except ImportError as exc:  # the pages extra is missing: the message says what to install
        print(f"openagi-nb dashboard: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP: the page is stopped by now
        print("stopped", flush=True)
    return 0


@contextmanager
def _stopped_by(*names: str) -> Iterator[None]:
    """Make the signals ``names`` (those the platform has) stop the page as Ctrl-C does: Voila
    runs in a session of its own, so no signal reaches it but from us."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signals = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {s: signal.signal(s, interrupt) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def window(text: str) -> str:
    """``--window``: a time span (``15min``) or a number of rows."""
    from ..stream._window import parse_window

    return checked(lambda t: parse_window(int(t) if t.isdigit() else t))(text)


def add_dashboard(sub: Any) -> None:
    from ..model import CHANNELS

    p = sub.add_parser("dashboard", help="serve the live dashboard as a web page (Voila)")
    add_server_url(p, " (a ?token= in it goes to the page's kernel only, as "
                      "$OPENAGI_NB_TOKEN does)")
    p.add_argument("--host", default="127.0.0.1",
                   help="where the page listens (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=0, help="the page's port (default: a free one)")
    p.add_argument("--node-id", default=None,
                   help="fetch tokens for this node (default without a token: "
                        "openagi-nb-dashboard)")
    p.add_argument("--channel", action="append", choices=[c.value for c in CHANNELS],
                   help="a channel to watch (repeat it; default: all)")
    p.add_argument("--window", type=window, default="15min",
                   help="what the stream keeps of each channel: a time span (default 15min) "
                        "or a number of rows")
    p.set_defaults(handler=_dashboard)
