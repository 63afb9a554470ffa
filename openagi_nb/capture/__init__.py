"""Captures: the messages as received, one JSON object per line (``.jsonl``, ``.jsonl.gz``), and
the Parquet datasets made from them; loaded into the same frames as the live stream's."""

from ._capture import Capture, CaptureWriter, StrPath, convert, iter_lines, load_capture, summarize

__all__ = ["Capture", "CaptureWriter", "StrPath", "convert", "iter_lines", "load_capture",
           "summarize"]
