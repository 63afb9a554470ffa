"""``openagi-nb``: the command line, a thin shell over the library.

Each subcommand parses its options, calls one library function and prints; our exceptions become
one line on stderr and a non-zero exit (1 for a failure, 2 for bad usage), never a traceback.
This is the only module that prints.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .exceptions import OpenAGIError

__all__ = ["main", "parse_duration"]

Handler = Callable[[argparse.Namespace], int]


def parse_duration(text: str) -> float:
    """Seconds in ``"90"``, ``"90s"``, ``"10m"``, ``"90min"``, ``"1h30m"``, ``"36h"``, ``"7d"``
    (for ``--duration``)."""
    from .durations import positive

    if text.replace(".", "", 1).isdigit():
        text += "s"  # a plain number counts seconds
    try:
        return positive(text, "duration").total_seconds()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r} (try 90s, 10m, 1h, 7d)") from None


@contextmanager
def _progress(total: int | None, unit: str, desc: str) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on a terminal, nothing otherwise; yields ``update(done_so_far)``."""
    if not sys.stderr.isatty():
        yield lambda done: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, unit_scale=True, desc=desc, leave=False) as bar:
        def update(done: int) -> None:
            bar.update(done - bar.n)

        yield update


# --- generate -----------------------------------------------------------------------------


def _generate(args: argparse.Namespace) -> int:
    from . import scenario
    from .scenario._timetable import as_text

    with _progress(None, "ev", "generating") as update:
        result = scenario.export(
            args.output, seed=args.seed, duration=args.duration, nodes=args.nodes,
            engine=args.engine, progress=update,
        )
    kind = "dataset" if scenario.is_dataset_path(args.output) else "capture"
    print(
        f"wrote {result.events:,} events, {len(result.incidents)} incidents "
        f"(seed {args.seed}, {result.engine} engine) to {kind} {args.output}"
    )
    left = [p.shortest for p in scenario.PLANNED if p not in result.placed]
    if left:
        print(
            f"placed {len(result.placed)} of {len(scenario.PLANNED)} planned incidents; a longer "
            f"--duration places more (the next from {as_text(min(left))}, all from "
            f"{as_text(max(left))}: see data/README.md)"
        )
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_generate(sub: Any) -> None:
    p = sub.add_parser("generate", help="write a seeded scenario capture or Parquet dataset "
                                        "(deterministic per seed)")
    p.add_argument("-o", "--output", required=True,
                   help="capture path (.jsonl[.gz]), or a Parquet dataset directory: a path "
                        "ending in / or .parquet")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--duration", type=parse_duration, default=3600.0,
                   help="e.g. 1h, 90min, 36h, 7d, or seconds (default 1h, at least 1min; under "
                        "20min, only the incidents that fit)")
    p.add_argument("--nodes", type=_positive_int, default=25,
                   help="number of nodes (default 25, at least 16; thousands are fine)")
    p.add_argument("--engine", choices=("auto", "classic", "stream"), default="auto",
                   help="classic: in memory, as earlier versions (the bundled sample); stream: "
                        "window by window, bounded memory; auto (default): classic up to 100 "
                        "node-hours")
    p.set_defaults(handler=_generate)


# --- inspect ------------------------------------------------------------------------------


def _inspect(args: argparse.Namespace) -> int:
    from .capture import load_capture, summarize

    size = args.capture.stat().st_size if args.capture.is_file() else None
    with _progress(size, "B", "loading") as update:
        cap = load_capture(args.capture, progress=update)
    print(_format_summary(summarize(cap)))
    return 0


def _format_summary(info: dict[str, Any]) -> str:
    lines = [f"capture  {info['path']}", f"messages {info['messages']:,}"]
    if info["start"] is not None:
        span = info["end"] - info["start"]
        lines.append(f"span     {info['start']} .. {info['end']} ({span})")
    for channel, events in info["events"].items():
        lines.append(f"{channel:<18} {sum(events.values()):>9,}")
        lines.extend(f"  {event:<24} {count:>9,}" for event, count in events.items())
    nodes = info["nodes"]
    shown = ", ".join(nodes[:8]) + (", ..." if len(nodes) > 8 else "")
    lines.append(f"nodes    {len(nodes)}" + (f" ({shown})" if nodes else ""))
    lines.append(f"rejects  {info['rejects']:,}")
    lines.extend(f"  line {line}: {reason}" for line, reason in info["first_rejects"])
    if info["control_messages"]:
        lines.append(f"control messages {info['control_messages']:,}")
    return "\n".join(lines)


def _add_inspect(sub: Any) -> None:
    p = sub.add_parser("inspect", help="summarise a capture: channels, events, span, rejects")
    p.add_argument("capture", type=Path,
                   help=".jsonl, .jsonl.gz, a directory (or glob) of them, or a Parquet dataset")
    p.set_defaults(handler=_inspect)


# --- convert ------------------------------------------------------------------------------


def _convert(args: argparse.Namespace) -> int:
    from .capture import convert, load_capture

    if not args.capture.is_file():  # pieces: only the new ones are added to the dataset
        cap = load_capture(convert(args.capture, args.output, period=args.period))
        print(f"{args.output}/ holds {len(cap):,} events in {len(cap.channels)} channels "
              f"({len(cap.rejects):,} rejects)")
        return 0
    with _progress(args.capture.stat().st_size, "B", "loading") as update:
        cap = load_capture(args.capture, progress=update)
    out = convert(cap, args.output, period=args.period)
    print(f"wrote {len(cap):,} events in {len(cap.channels)} channels to {out}/ "
          f"({len(cap.rejects):,} rejects)")
    return 0


def _add_convert(sub: Any) -> None:
    p = sub.add_parser("convert", help="write a capture as a Hive-partitioned Parquet dataset")
    p.add_argument("capture", type=Path,
                   help=".jsonl or .jsonl.gz capture, or a directory (or glob) of pieces: "
                        "pieces the dataset lacks are appended")
    p.add_argument("-o", "--output", required=True, type=Path, help="output directory")
    p.add_argument("--period", choices=("hour", "day"), default="hour",
                   help="one directory per hour (default) or per day of the events, within "
                        "each channel's")
    p.set_defaults(handler=_convert)


# --- serve, token ---------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import logging

    from .server import serve
    from .server._options import from_arguments

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return serve(from_arguments(args), on_ready=lambda url: print(
        f"serving {args.capture} on {url} (WebSocket: {url.replace('http', 'ws', 1)}/api/v1/ws)",
        flush=True))


def _add_serve(sub: Any) -> None:
    from .server._options import add_arguments

    p = sub.add_parser("serve", help="replay a capture as the Open-A.G.I WebSocket API")
    add_arguments(p)
    p.set_defaults(handler=_serve)


def _token(args: argparse.Namespace) -> int:
    import ssl

    from .stream import fetch_token

    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    print(fetch_token(args.url, node_id=args.node_id, public_key=args.public_key,
                      timeout=args.timeout, ssl_context=context))
    return 0


def _add_token(sub: Any) -> None:
    p = sub.add_parser("token", help="print a token from a server's /api/v1/auth/token")
    p.add_argument("url", help="the server, e.g. http://127.0.0.1:8080")
    p.add_argument("--node-id", default="openagi-nb", help="who asks (default openagi-nb)")
    p.add_argument("--public-key", default="", help="the node's public key, if required")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    p.add_argument("--cafile", default=None, help="CA or self-signed certificate (https)")
    p.set_defaults(handler=_token)


# --- record -------------------------------------------------------------------------------


def _record(args: argparse.Namespace) -> int:
    import os
    import time

    from .model import CHANNELS
    from .stream import record

    tty, shown = sys.stderr.isatty(), [0.0]
    start, end = ("\r", "") if tty else ("", "\n")

    def progress(stats: Any) -> None:
        now = time.monotonic()
        if tty or now - shown[0] >= 5.0:  # a file or pipe gets a line every 5 s, not a flood
            shown[0] = now
            print(f"{start}{stats.total:,} events, {stats.events_per_second:,.0f}/s, "
                  f"{stats.reconnects} reconnects ", end=end, file=sys.stderr, flush=True)

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


def _add_record(sub: Any) -> None:
    from .model import CHANNELS

    p = sub.add_parser("record", help="record a live stream to a capture, as received")
    p.add_argument("url", type=_server_url,
                   help="the server: http://host:port as serve prints it, ws://host:port, or "
                        "the API's ws://host:port/api/v1/ws")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="capture path (.jsonl[.gz]), or a directory for --rotate")
    p.add_argument("--rotate", type=_rotate, default=None,
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


def _checked(check: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse ``type=`` that keeps the text once ``check`` accepts it, and turns the
    ValueError of one it refuses into argparse's usage error (exit 2)."""
    def parse(text: str) -> str:
        try:
            check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


def _server_url(text: str) -> str:
    from .stream._urls import websocket_url

    return _checked(websocket_url)(text)


def _rotate(text: str) -> str:
    from .stream._rotation import parse_rotate

    return _checked(parse_rotate)(text)


# --- main ---------------------------------------------------------------------------------

PARSERS: list[Callable[[Any], None]] = [
    _add_generate, _add_inspect, _add_convert, _add_serve, _add_token, _add_record,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``openagi-nb`` argument parser with every subcommand."""
    from . import __version__

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


if __name__ == "__main__":
    sys.exit(main())
