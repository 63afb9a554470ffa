"""Subcommands on captures and datasets: ``generate``, ``inspect``, ``convert``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import parse_duration, positive_int, progress

__all__ = ["add_convert", "add_generate", "add_inspect"]


# --- generate -----------------------------------------------------------------------------


def _generate(args: argparse.Namespace) -> int:
    from .. import scenario
    from ..scenario._timetable import as_text

    with progress(None, "ev", "generating") as update:
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


def add_generate(sub: Any) -> None:
    p = sub.add_parser("generate", help="write a seeded scenario capture or Parquet dataset "
                                        "(deterministic per seed)")
    p.add_argument("-o", "--output", required=True,
                   help="capture path (.jsonl[.gz]), or a Parquet dataset directory: a path "
                        "ending in / or .parquet")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--duration", type=parse_duration, default=3600.0,
                   help="e.g. 1h, 90min, 36h, 7d, or seconds (default 1h, at least 1min; under "
                        "20min, only the incidents that fit)")
    p.add_argument("--nodes", type=positive_int, default=25,
                   help="number of nodes (default 25, at least 16; thousands are fine)")
    p.add_argument("--engine", choices=("auto", "classic", "stream"), default="auto",
                   help="classic: in memory, as earlier versions (the bundled sample); stream: "
                        "window by window, bounded memory; auto (default): classic up to 100 "
                        "node-hours")
    p.set_defaults(handler=_generate)


# --- inspect ------------------------------------------------------------------------------


def _inspect(args: argparse.Namespace) -> int:
    from ..capture import load_capture, summarize

    size = args.capture.stat().st_size if args.capture.is_file() else None
    with progress(size, "B", "loading") as update:
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


def add_inspect(sub: Any) -> None:
    p = sub.add_parser("inspect", help="summarise a capture: channels, events, span, rejects")
    p.add_argument("capture", type=Path,
                   help=".jsonl, .jsonl.gz, a directory (or glob) of them, or a Parquet dataset")
    p.set_defaults(handler=_inspect)


# --- convert ------------------------------------------------------------------------------


def _convert(args: argparse.Namespace) -> int:
    from ..capture import convert, load_capture

    if not args.capture.is_file():  # pieces: only the new ones are added to the dataset
        cap = load_capture(convert(args.capture, args.output, period=args.period))
        print(f"{args.output}/ holds {len(cap):,} events in {len(cap.channels)} channels "
              f"({len(cap.rejects):,} rejects)")
        return 0
    with progress(args.capture.stat().st_size, "B", "loading") as update:
        cap = load_capture(args.capture, progress=update)
    out = convert(cap, args.output, period=args.period)
    print(f"wrote {len(cap):,} events in {len(cap.channels)} channels to {out}/ "
          f"({len(cap.rejects):,} rejects)")
    return 0


def add_convert(sub: Any) -> None:
    p = sub.add_parser("convert", help="write a capture as a Hive-partitioned Parquet dataset")
    p.add_argument("capture", type=Path,
                   help=".jsonl or .jsonl.gz capture, or a directory (or glob) of pieces: "
                        "pieces the dataset lacks are appended")
    p.add_argument("-o", "--output", required=True, type=Path, help="output directory")
    p.add_argument("--period", choices=("hour", "day"), default="hour",
                   help="one directory per hour (default) or per day of the events, within "
                        "each channel's")
    p.set_defaults(handler=_convert)
