"""Subcommands on servers: ``serve``, ``token``, ``record``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import add_server_url, parse_duration, rotate

__all__ = ["add_record", "add_serve", "add_token"]


# --- serve, token ---------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import logging

    from ..server import serve
    from ..server._options import from_arguments

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return serve(from_arguments(args), on_ready=lambda url: print(
        f"serving {args.capture} on {url} (WebSocket: {url.replace('http', 'ws', 1)}/api/v1/ws)",
        flush=True))


def add_serve(sub: Any) -> None:
    from ..server._options import add_arguments

    p = sub.add_parser("serve", help="replay a capture as the Open-A.G.I WebSocket API")
    add_arguments(p)
    p.set_defaults(handler=_serve)


def _token(args: argparse.Namespace) -> int:
    import ssl

    from ..stream import fetch_token

    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    print(fetch_token(args.url, node_id=args.node_id, public_key=args.public_key,
                      timeout=args.timeout, ssl_context=context))
    return 0


def add_token(sub: Any) -> None:
    p = sub.add_parser("token", help="print a token from a server's /api/v1/auth/token")
    add_server_url(p)
    p.add_argument("--node-id", default="openagi-nb", help="who asks (default openagi-nb)")
    p.add_argument("--public-key", default="", help="the node's public key, if required")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    p.add_argument("--cafile", default=None, help="CA or self-signed certificate (https)")
    p.set_defaults(handler=_token)


# --- record -------------------------------------------------------------------------------


def _record(args: argparse.Namespace) -> int:
    import os
    import time

    from ..model import CHANNELS
    from ..stream import record

    tty, shown = sys.stderr.isatty(), [0.0]
    start, end = ("\r", "") if tty else ("", "\n")

    def progress(stats: Any) -> None:
        now = time.monotonic()
        if tty or now - shown[0] >= 5.0:  # a file or pipe gets a line every 5 s, not a flood
            shown[0] = now
            trouble = (f"; {stats.state}: {stats.last_error}"
                       if stats.state != "live" and stats.last_error else "")
            print(f"{start}{stats.total:,} events, {stats.events_per_second:,.0f}/s, "
                  f"{stats.reconnects} reconnects{trouble} ", end=end, file=sys.stderr,
                  flush=True)

    stats = record(
        args.url, args.output, channels=args.channel or CHANNELS, count=args.count,
        duration=args.duration, token=args.token or os.environ.get("OPENAGI_NB_TOKEN"),
        node_id=args.node_id, on_progress=progress, rotate=args.rotate,
    )
    if tty:
        print(file=sys.stderr)
    print(f"recorded {stats.total:,} events to {args.output} ({stats.reconnects} reconnects, "
          f"{stats.gaps} gaps, {sum(stats.rejected.values())} rejected)")
    return 0


def add_record(sub: Any) -> None:
    from ..model import CHANNELS

    p = sub.add_parser("record", help="record a live stream to a capture, as received")
    add_server_url(p)
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="capture path (.jsonl[.gz]), or a directory for --rotate")
    p.add_argument("--rotate", type=rotate, default=None,
                   help="write pieces DIR/<start time>.jsonl.gz, each this long (1h) or large "
                        "(100MB)")
    p.add_argument("--channel", action="append", choices=[c.value for c in CHANNELS],
                   help="a channel to record (repeat it; default: all)")
    p.add_argument("--count", type=int, default=None, help="stop after this many events")
    p.add_argument("--duration", type=parse_duration, default=None, help="stop after, e.g. 10m")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", default=None,
                      help="the token (default: $OPENAGI_NB_TOKEN, or one in the URL)")
    auth.add_argument("--node-id", default=None, help="fetch a token for this node instead")
    p.set_defaults(handler=_record)
