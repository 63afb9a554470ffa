"""``open_dataset``: a lazy view of a Parquet dataset (:mod:`._dataset`'s layout), on a local
path or any filesystem pyarrow or fsspec reach (``s3://bucket/fleet``, ``gs://``, ``abfs://``).

Nothing is read when it is opened. :meth:`Dataset.frame` reads one channel into a pandas frame
of the declared schema, with the time range, the nodes and the columns pushed down to Parquet:
hour directories outside the range are never listed for reading, row groups whose statistics
exclude the range or the nodes are skipped, other columns are not decoded.
:meth:`Dataset.to_dask` gives the same as a ``dask.dataframe.DataFrame`` (one partition per
file, in time order, each sorted by time), with the declared dtypes as its ``meta``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from ..exceptions import CaptureError
from ..model import CHANNELS, Channel, arrow_frame, empty_frame
from ..model import columns as declared
from ._capture import sorted_frame
from ._dataset import NODE_COLUMNS, PERIODS
from ._pieces import StrPath

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["Dataset", "open_dataset"]

Time = str | pd.Timestamp | None
_PERIOD_FORMATS: Final = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}


def open_dataset(path: StrPath, *, filesystem: pafs.FileSystem | None = None) -> Dataset:
    """A lazy view of the dataset at ``path`` (written by ``convert``, ``generate -o x/`` or a
    recording's conversion): a local directory or a URL (``s3://bucket/fleet``; credentials
    as the filesystem library finds them), or a path on an explicit pyarrow ``filesystem``.

    Raises:
        CaptureError: ``path`` is not a dataset (no ``channel=...`` directory).
    """
    text = str(path)
    if filesystem is None:
        filesystem, text = _filesystem(text)
    dataset = Dataset(text, filesystem)
    if not dataset.channels:
        raise CaptureError("not a Parquet dataset: no channel=<name> directory", path=str(path))
    return dataset


def _filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in url:
        return pafs.LocalFileSystem(), url
    try:
        found: tuple[pafs.FileSystem, str] = pafs.FileSystem.from_uri(url)
        return found
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        try:  # what pyarrow does not know itself, through fsspec (gcsfs, adlfs, ...)
            import fsspec
        except ImportError:
            raise CaptureError("no filesystem for this URL (install fsspec and its "
                               "implementation)", path=url) from None
        fs, root = fsspec.core.url_to_fs(url)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), root


class Dataset:
    """A Parquet dataset of captures, read lazily (see :func:`open_dataset`)."""

    def __init__(self, root: str, filesystem: pafs.FileSystem) -> None:
        self.root, self.filesystem = root.rstrip("/"), filesystem
        found = filesystem.get_file_info(pafs.FileSelector(self.root, allow_not_found=True))
        names = {info.base_name.removeprefix("channel=") for info in found
                 if info.type == pafs.FileType.Directory and
                 info.base_name.startswith("channel=")}
        self.channels: tuple[Channel, ...] = tuple(c for c in CHANNELS if c.value in names)
        """The channels the dataset holds."""

    def __repr__(self) -> str:
        return f"<Dataset {self.root}: {', '.join(c.value for c in self.channels)}>"

    def frame(self, channel: str, *, start: Time = None, end: Time = None,
              nodes: Iterable[str] | None = None,
              columns: Sequence[str] | None = None) -> pd.DataFrame:
        """``channel``'s events with ``start <= timestamp < end`` (None: open), of ``nodes``
        only (its :data:`~._dataset.NODE_COLUMNS` column), as a frame of the declared schema
        sorted by time, with only ``columns`` (in the declared order; default all).

        Raises:
            ValueError: an unknown channel or column.
            CaptureError: the files cannot be read.
        """
        chosen, names = self._columns(channel, columns)
        scan = self._scan(chosen, start, end, nodes)
        try:
            table = scan.to_table(columns=names, filter=self._filter(chosen, start, end, nodes))
        except (OSError, pa.ArrowException) as exc:
            raise CaptureError(f"cannot read {chosen.value}: {exc}", path=self.root) from exc
        frame = sorted_frame(arrow_frame(chosen, table))
        return frame if columns is None else frame[_ordered(chosen, names)]

    def to_dask(self, channel: str, *, start: Time = None, end: Time = None,
                nodes: Iterable[str] | None = None,
                columns: Sequence[str] | None = None) -> dd.DataFrame:
        """:meth:`frame` as a ``dask.dataframe.DataFrame``: one partition per file, files in
        time order, each partition sorted by time, ``meta`` the declared dtypes. Computed on
        whatever Dask scheduler is active (a ``distributed.Client`` when one exists).

        Raises:
            ImportError: Dask is not installed (``pip install 'openagi-nb[scale]'``).
        """
        import dask.dataframe as dd
        from dask.delayed import delayed

        chosen, names = self._columns(channel, columns)
        scan = self._scan(chosen, start, end, nodes)
        expression = self._filter(chosen, start, end, nodes)
        files = sorted(scan.files)  # hour directories sort in time order
        wanted = _ordered(chosen, names)
        meta = empty_frame(chosen)[wanted]
        parts = [delayed(_read_file)(self.filesystem, f, chosen, names, expression, wanted)
                 for f in files]
        frame: dd.DataFrame = (dd.from_delayed(parts, meta=meta, verify_meta=False) if parts
                               else dd.from_pandas(meta, npartitions=1))  # type: ignore[no-untyped-call]
        return frame

    def files(self, channel: str, *, start: Time = None, end: Time = None) -> list[str]:
        """The files :meth:`frame` reads for ``channel`` between ``start`` and ``end``: those of
        the periods the range touches (to see what a query will cost, or to ship them)."""
        return sorted(self._scan(Channel(channel), start, end, None).files)

    # --- internals ----------------------------------------------------------------------

    def _columns(self, channel: str, columns: Sequence[str] | None
                 ) -> tuple[Channel, list[str]]:
        chosen = Channel(channel)
        names = [c.name for c in declared(chosen)]
        if columns is None:
            return chosen, names
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise ValueError(f"{chosen.value} has no column {unknown[0]!r}; it has "
                             f"{', '.join(names)}")
        return chosen, list(dict.fromkeys(["timestamp", "seq", *columns]))

    def _scan(self, channel: Channel, start: Time, end: Time,
              nodes: Iterable[str] | None) -> ds.Dataset:
        """The channel's files, only the periods of ``[start, end)`` among them."""
        base = f"{self.root}/channel={channel.value}"
        try:
            dataset = ds.dataset(base, filesystem=self.filesystem, format="parquet",
                                 partitioning="hive", exclude_invalid_files=False)
        except (OSError, pa.ArrowException) as exc:
            raise CaptureError(f"cannot list {channel.value}: {exc}", path=self.root) from exc
        keys = [name for name in PERIODS if name in dataset.schema.names]
        if not keys or (start is None and end is None):
            return dataset
        key = keys[0]
        bound: ds.Expression | None = None
        if start is not None:
            bound = ds.field(key) >= _stamp(start).strftime(_PERIOD_FORMATS[key])
        if end is not None:
            upper = ds.field(key) <= _stamp(end).strftime(_PERIOD_FORMATS[key])
            bound = upper if bound is None else bound & upper
        files = [fragment.path for fragment in dataset.get_fragments(filter=bound)]
        return ds.dataset(files, filesystem=self.filesystem, format="parquet",
                          partitioning=ds.partitioning(flavor="hive"),
                          partition_base_dir=base)

    @staticmethod
    def _filter(channel: Channel, start: Time, end: Time,
                nodes: Iterable[str] | None) -> ds.Expression | None:
        """The row filter: the time range and the nodes (row groups pruned by statistics)."""
        parts = []
        if start is not None:
            parts.append(ds.field("timestamp") >= pa.scalar(_stamp(start), _UTC_NS))
        if end is not None:
            parts.append(ds.field("timestamp") < pa.scalar(_stamp(end), _UTC_NS))
        if nodes is not None:
            parts.append(ds.field(NODE_COLUMNS[channel]).isin(list(nodes)))
        if not parts:
            return None
        expression = parts[0]
        for more in parts[1:]:
            expression = expression & more
        return expression


_UTC_NS: Final = pa.timestamp("ns", "UTC")


def _ordered(channel: Channel, names: list[str]) -> list[str]:
    return [c.name for c in declared(channel) if c.name in names]


def _stamp(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _read_file(filesystem: pafs.FileSystem, path: str, channel: Channel, names: list[str],
               expression: ds.Expression | None, wanted: list[str]) -> pd.DataFrame:
    """One partition of :meth:`Dataset.to_dask`: one file, filtered, sorted by time."""
    table = ds.dataset(path, filesystem=filesystem, format="parquet").to_table(
        columns=names, filter=expression)
    return sorted_frame(arrow_frame(channel, table))[wanted]
