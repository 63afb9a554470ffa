"""Captures: the messages as received, one JSON object per line (``.jsonl``, ``.jsonl.gz``), in
one file or a directory of rotated pieces, and the Parquet datasets made from them; loaded into
the same frames as the live stream's."""

from ._capture import Capture
from ._convert import convert
from ._load import iter_lines, load_capture
from ._open import Dataset, open_dataset
from ._pieces import StrPath, pieces
from ._summary import summarize
from ._write import CaptureWriter

__all__ = ["Capture", "CaptureWriter", "Dataset", "StrPath", "convert", "iter_lines",
           "load_capture", "open_dataset", "pieces", "summarize"]
