"""Start a server in a subprocess for a benchmark and read the URL it prints when it listens."""

from __future__ import annotations

import re
import subprocess


def launch(argv: list[str], what: str = "server") -> tuple[subprocess.Popen[str], str]:
    """Run ``argv`` (a server that prints ``http://127.0.0.1:PORT`` once listening); return the
    process and that base URL, or exit saying what it printed instead."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline() if process.stdout else ""
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        process.kill()
        raise SystemExit(f"{what} did not start: {line!r}")
    return process, match.group(0)
