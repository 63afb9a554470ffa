"""``oa.serve`` and ``oa.generate``: what the ``openagi-nb`` commands do, one line of Python each.

What a notebook, a test or a bug report needs before anything else: a capture, and the API on a
free loopback port replaying it, stopped with the kernel::

    oa.generate("small.jsonl.gz", duration="5min", seed=3)
    server = oa.serve("small.jsonl.gz", speed=20, loop=True)
    stream = oa.EventStream(server.url, node_id="analyst").start()
    ...
    server.stop()

(``oa.record`` is :func:`openagi_nb.stream.record`.)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import ServerConfigError

if TYPE_CHECKING:
    from .capture import StrPath
    from .durations import Duration
    from .scenario import Engine, Generation
    from .server import BackgroundServer

__all__ = ["generate", "serve"]


def serve(
    capture: str | Path,
    *,
    speed: float | str = 1.0,
    loop: bool = False,
    port: int = 0,
    host: str = "127.0.0.1",
    **options: Any,
) -> BackgroundServer:
    """Start a replay server of ``capture`` in the background and return it once it listens.

    The handle has ``.url`` (the http root, what :class:`~openagi_nb.EventStream`,
    :func:`~openagi_nb.record` and ``fetch_token`` take), ``.ws_url``, ``.token(node_id)`` and
    ``.stop()``; it is also a context manager (``with oa.serve(...) as server:``). It runs in a
    thread of this process: the kernel's end ends it.

    Args:
        capture: a ``.jsonl[.gz]`` capture (``openagi-nb generate`` or ``record`` writes them).
        speed: capture seconds per second, or ``"max"``: as fast as the slowest client reads.
        loop: start over at the end (a demo that never runs dry).
        port: 0 (default) picks a free port; ``server.url`` says which.
        host: the address to listen on; loopback unless you mean to share it.
        **options: any other :class:`~openagi_nb.server.ServeOptions` field (``history``,
            ``rate``, ``wait_for``, ``token_ttl``, ``batch``...): ``openagi-nb serve --help``
            describes them.

    Raises:
        ServerConfigError: an option it cannot use, a capture it cannot read, or a port
            that is taken.
    """
    from .server import BackgroundServer, ServeOptions, parse_speed

    if isinstance(speed, str):
        try:
            speed = parse_speed(speed)
        except argparse.ArgumentTypeError as exc:
            raise ServerConfigError(str(exc)) from None
    unknown = sorted(set(options) - set(ServeOptions.__dataclass_fields__))
    if unknown:
        raise ServerConfigError(f"unknown server option(s) {unknown}; see "
                                "`openagi-nb serve --help`")
    settings = ServeOptions(str(capture), host=host, port=port, speed=float(speed), loop=loop,
                            **options)
    return BackgroundServer(settings).start()


def generate(
    path: StrPath,
    *,
    duration: Duration | float = "1h",
    seed: int = 7,
    nodes: int = 25,
    engine: Engine = "auto",
) -> Generation:
    """Write a seeded scenario of a network (``openagi-nb generate``): a capture
    (``.jsonl[.gz]``) or, for a path ending in ``/`` or ``.parquet``, a Parquet dataset.

    The same seed and arguments always write the same events: a capture to test with, to
    attach to a bug report, or to replay with :func:`serve`. ``data/README.md`` says which
    incidents appear from which duration.

    Args:
        duration: ``"5min"``, ``"7d"``, a timedelta, or seconds.
        nodes: how many nodes report.
        engine: ``"classic"`` (in memory), ``"stream"`` (window by window, bounded memory) or
            ``"auto"``.

    Returns:
        what was written: its ``incidents`` (the ground truth), ``counts`` and ``engine``.

    Raises:
        ValueError: ``duration`` is not a duration.
        ScenarioError: too short, or too few nodes.
        CaptureError: ``path`` cannot be written.
    """
    from .durations import positive
    from .scenario import export

    seconds = float(duration) if isinstance(duration, int | float) else positive(
        duration, "duration").total_seconds()
    return export(path, seed=seed, duration=seconds, nodes=nodes, engine=engine)
