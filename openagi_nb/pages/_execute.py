"""Running a report's notebook: papermill, in a fresh kernel that sees the capture and not the
user's live server, with every failure turned into one :class:`NotebookFailed`.

The kernel's environment is this process's minus ``OPENAGI_NB_URL`` and ``OPENAGI_NB_TOKEN``
(a report of a capture must not reach a server the user happens to have exported), plus
``OPENAGI_NB_CAPTURE``; the token stays only when the report asks for the live section
(``LIVE_URL``). papermill's own API cannot pass an environment to the kernel (its engine calls
``NotebookClient.execute()`` without arguments), so a kernel manager class that adds it at
``start_kernel`` is handed to nbclient through papermill's engine arguments. What the kernel
process itself writes (its start-up warnings, a crash) goes to a log file, quoted when the
kernel dies; what cells output travels over ZeroMQ as always.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Final

from ..exceptions import NotebookFailed, ReportError

__all__ = ["LIVE_VARIABLES", "START_TIMEOUT", "execute", "kernel_environment", "parameters_of",
           "read_notebook"]

LIVE_VARIABLES: Final = ("OPENAGI_NB_URL", "OPENAGI_NB_TOKEN")
START_TIMEOUT: Final = 60.0
"""Seconds a kernel may take to start."""
_UNENCRYPTED: Final = "Kernel is running over TCP without encryption"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def parameters_of(notebook: Path) -> dict[str, str]:
    """The parameters of ``notebook`` (its first code cell tagged ``parameters``) as papermill
    reads them: name -> the default's source text. Empty when it has no such cell."""
    from papermill.exceptions import PapermillException
    from papermill.translators import papermill_translators

    nb = read_notebook(notebook)
    cell = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", ())), None)
    if cell is None:
        return {}
    kernel, language = _kernel(nb)
    try:
        translator = papermill_translators.find_translator(kernel, language)
        found = translator.inspect(cell)
    except (PapermillException, NotImplementedError) as exc:
        raise ReportError(f"{notebook.name}: papermill cannot read the parameters of a "
                          f"{language} notebook") from exc
    return {parameter.name: str(parameter.default) for parameter in found}


def read_notebook(path: Path) -> Any:
    """The notebook at ``path`` (nbformat, version 4).

    Raises:
        ReportError: it cannot be read or is not a notebook.
    """
    import nbformat

    try:
        return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # OSError, JSON and nbformat's validation errors
        raise ReportError(f"cannot read notebook {path}: {exc}") from exc


def kernel_environment(capture: str, *, live: bool) -> dict[str, str]:
    """The report kernel's environment: this process's, the capture exported as
    ``OPENAGI_NB_CAPTURE``, and no live server unless ``live`` (then the token is kept)."""
    dropped = LIVE_VARIABLES[:1] if live else LIVE_VARIABLES
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["OPENAGI_NB_CAPTURE"] = capture
    return env


def execute(notebook: Path, parameters: Mapping[str, Any], *, env: Mapping[str, str],
            timeout: float, keep: Path | None) -> Any:
    """Run ``notebook`` with ``parameters`` injected (papermill) in a kernel started in the
    notebook's folder, as Jupyter would; return the executed notebook (an nbformat node).

    Args:
        env: the kernel's whole environment (:func:`kernel_environment`).
        timeout: seconds any one cell may run.
        keep: where to write the executed notebook (written as it runs, so a failed run
            leaves its traceback there), or None.

    Raises:
        NotebookFailed: a cell raised or ran over ``timeout``, or the kernel died or did not
            start in :data:`START_TIMEOUT` seconds.
    """
    import papermill

    _quiet_papermill()
    kernel, language = _kernel(read_notebook(notebook))
    running: list[Any] = []  # the cell being run, for an error that does not say which

    def started(cell: Any, cell_index: int) -> None:
        running[:] = [cell]

    with tempfile.TemporaryDirectory(prefix="openagi-report-") as tmp, \
            open(Path(tmp, "kernel.log"), "w+", encoding="utf-8") as log:
        try:
            return papermill.execute_notebook(
                str(notebook), str(keep) if keep else None, parameters=dict(parameters),
                kernel_name=kernel, language=language, progress_bar=False,
                start_timeout=START_TIMEOUT, execution_timeout=timeout,
                kernel_manager_class=_kernel_manager(dict(env), log),
                resources={"metadata": {"path": str(notebook.parent)}},
                on_cell_start=started,
            )
        except Exception as exc:
            failure = _failure(exc, notebook.name, running[-1] if running else None, timeout,
                               log)
            if failure is None:
                raise
            if keep is not None and failure.cell is not None:
                failure.args = (f"{failure} (the notebook as far as it ran: {keep})",)
            raise failure from exc


def _kernel(nb: Any) -> tuple[str, str]:
    """The kernel and language the notebook names; ``python3`` and Python, as Jupyter would
    start, for one that names none."""
    spec = nb.metadata.get("kernelspec", {})
    language = spec.get("language") or nb.metadata.get("language_info", {}).get("name")
    return str(spec.get("name") or "python3"), str(language or "python")


def _quiet_papermill() -> None:
    """papermill hands nbclient its logger, which reports a timeout or a dead kernel at ERROR;
    with no handler, Python's last resort prints it to stderr. The NotebookFailed raised says
    it once; logging configured by the application still gets the records."""
    log = logging.getLogger("papermill")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())


def _kernel_manager(env: dict[str, str], log: IO[str]) -> type:
    """An nbclient kernel manager class whose kernels start with ``env``, their own output
    going to ``log``."""
    from jupyter_client.manager import AsyncKernelManager

    class ReportKernelManager(AsyncKernelManager):
        # AsyncKernelManager's start_kernel is a coroutine; jupyter_client types it by the
        # synchronous KernelManager's
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw.update(env=env, stdout=log, stderr=log)
            await super().start_kernel(**kw)

    return ReportKernelManager


def _failure(exc: Exception, name: str, cell: Any, timeout: float,
             log: IO[str]) -> NotebookFailed | None:
    """``exc`` of papermill, nbclient or jupyter_client as a :class:`NotebookFailed`; None
    when it is none of theirs."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        evalue = _ANSI.sub("", str(exc.evalue))
        first = evalue.strip().splitlines()[0] if evalue.strip() else ""
        what = f"{exc.ename}: {first}" if first else exc.ename
        return NotebookFailed(f"{name}: {_cell(exc.exec_count, exc.source)} failed: {what}",
                              notebook=name, cell=exc.exec_count, ename=exc.ename, evalue=evalue)
    if isinstance(exc, NoSuchKernel):
        return NotebookFailed(f"{name}: no Jupyter kernel named {exc.name!r} is installed "
                              "(the notebook's kernelspec)", notebook=name, ename="no kernel",
                              evalue=str(exc))
    count = cell.get("execution_count") if cell is not None else None
    where = _cell(count, cell.source) if cell is not None else "the kernel"
    if isinstance(exc, CellTimeoutError):
        return NotebookFailed(f"{name}: {where} ran over the {timeout:g} s a cell may take",
                              notebook=name, cell=count, ename="timeout", evalue=str(exc))
    if isinstance(exc, DeadKernelError | TimeoutError) or (
            isinstance(exc, RuntimeError) and "kernel" in str(exc).lower()):  # start-up too
        return NotebookFailed(f"{name}: the kernel died or did not start while running "
                              f"{where}: {exc}{_tail(log)}", notebook=name, cell=count,
                              ename="dead kernel", evalue=str(exc))
    return None


def _cell(count: int | None, source: str) -> str:
    """``cell In [7] (plot_metric(frame, ...))``: the count Jupyter shows (when the kernel gave
    one) and the cell's first line of code."""
    line = next((s.strip() for s in source.splitlines()
                 if s.strip() and not s.lstrip().startswith("#")), "")
    shown = line if len(line) <= 60 else line[:57] + "..."
    name = f"cell In [{count}]" if count is not None else "the cell"
    return f"{name} ({shown})" if shown else name


def _tail(log: IO[str], lines: int = 5) -> str:
    """The last lines the kernel process wrote, to show with a dead kernel."""
    log.flush()
    log.seek(0)
    text = [t for t in log.read().splitlines()
            if t.strip() and _UNENCRYPTED not in t][-lines:]  # ipykernel says that at start
    return "; kernel output: " + " | ".join(text) if text else ""
