"""Voila as a subprocess, sealed off from the user's Jupyter set-up and from the internet.

Each page gets a sandbox directory of its own::

    sandbox/
      page/dashboard.ipynb      the notebook Voila serves (its root: nothing else is in it)
      config/voila.py           JUPYTER_CONFIG_DIR, so ~/.jupyter does not leak in; the file
                                makes Voila end with the process that started it
      data/                     JUPYTER_DATA_DIR:
        voila/templates/openagi-dashboard/   our template (package data), Voila's lab one
                                             without the stylesheets it asks a CDN for
        kernels/openagi-nb-page/kernel.json  this Python, whatever kernelspecs the user has
      runtime/  ipython/        JUPYTER_RUNTIME_DIR, IPYTHONDIR
      voila.log                 what Voila and its kernels print

Voila is run as ``python -m voila`` by this interpreter and never imported here, so it is only
needed when a page is served. Secrets reach the kernel through the environment only: never the
command line, the notebook or the page.

Voila runs in a session of its own (a Ctrl-C meant for us must not hit it halfway through its
shutdown); so that it does not outlive us when we are killed outright, its config asks Linux to
send it SIGTERM when we die (``PR_SET_PDEATHSIG``), which it answers by stopping its kernels;
it then deletes the sandbox itself.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import site
import sys
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Final

__all__ = ["KERNEL", "MISSING", "NOTEBOOK", "PARENT", "TEMPLATE", "command", "die_with_parent",
           "environment", "remove", "require", "sandbox"]

TEMPLATE: Final = "openagi-dashboard"
KERNEL: Final = "openagi-nb-page"
NOTEBOOK: Final = "dashboard.ipynb"
MISSING: Final = ("the dashboard page needs Voila and nbformat: "
                  "pip install 'openagi-nb[pages]'")
PARENT: Final = "OPENAGI_NB_PAGE_PARENT"
"""The variable that tells Voila's config whom to die with (our pid)."""
_CONFIG: Final = f"""\
# written by openagi-nb: Voila ends when the process that started it does
from {__name__} import die_with_parent

die_with_parent()
"""
_PR_SET_PDEATHSIG: Final = 1  # <linux/prctl.h>
_DIRS: Final = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
                "JUPYTER_RUNTIME_DIR": "runtime", "IPYTHONDIR": "ipython"}


def require() -> None:
    """Check that Voila and nbformat can be imported, without importing them.

    Raises:
        ImportError: one of them is missing; the message says which extra to install.
    """
    for name in ("voila", "nbformat"):
        try:
            found = importlib.util.find_spec(name) is not None
        except ValueError:  # a module in sys.modules without a spec
            found = False
        if not found:
            raise ImportError(MISSING, name=name)


def sandbox(root: Path) -> Path:
    """Lay out the directories of a page under ``root`` (see the module's docstring); return
    the directory the notebook goes into."""
    for name in (*_DIRS.values(), "page"):
        (root / name).mkdir(parents=True, exist_ok=True)
    templates = root / "data" / "voila" / "templates"
    templates.mkdir(parents=True)
    shipped = files("openagi_nb.pages") / "templates" / TEMPLATE
    target = templates / TEMPLATE
    target.mkdir()
    for item in shipped.iterdir():
        if item.is_file():
            (target / item.name).write_bytes(item.read_bytes())
    (root / "config" / "voila.py").write_text(_CONFIG)
    kernel = root / "data" / "kernels" / KERNEL
    kernel.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "openagi-nb dashboard", "language": "python"}
    (kernel / "kernel.json").write_text(json.dumps(spec, indent=1))
    return root / "page"


def command(notebook: Path, host: str, port: int) -> list[str]:
    """Voila's command line for ``notebook`` (in a :func:`sandbox`) on ``host:port``: no code,
    no browser, no tracebacks, our template and no switching it from the URL
    (``?voila-template=``), the kernels' connection files in the sandbox."""
    runtime = notebook.parent.parent / _DIRS["JUPYTER_RUNTIME_DIR"]
    return [
        sys.executable, "-m", "voila", str(notebook), "--no-browser",
        f"--Voila.ip={host}", f"--Voila.port={port}", "--Voila.port_retries=0",
        f"--Voila.root_dir={notebook.parent}",
        f"--Voila.connection_dir_root={runtime}",
        f"--VoilaConfiguration.template={TEMPLATE}",
        "--VoilaConfiguration.allow_template_override=NO",
        "--VoilaConfiguration.strip_sources=True",
        "--VoilaConfiguration.show_tracebacks=False",
        "--VoilaConfiguration.preheat_kernel=False",
    ]


def environment(root: Path, secrets: Mapping[str, str], *, watched: bool) -> dict[str, str]:
    """The environment of Voila and so of its kernels: ours without any ``JUPYTER*`` setting
    or ``OPENAGI_NB_*`` variable, the sandbox's directories, ``secrets``, and a
    ``PYTHONPATH`` through which the kernel imports this very openagi_nb. ``watched``: Voila
    is to die with this process (start it from the main thread then: Linux signals the death
    of the thread that started it)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "OPENAGI_NB_")) and k != "IPYTHONDIR"}
    env.update({key: str(root / name) for key, name in _DIRS.items()})
    env.update(secrets)
    if watched:
        env[PARENT] = str(os.getpid())
    path = _python_path(env.pop("PYTHONPATH", ""))
    if path:
        env["PYTHONPATH"] = path
    return env


def _python_path(current: str) -> str:
    """``current`` with the directory holding our package in front, unless the kernel finds
    it anyway (an installed package, in site-packages)."""
    home = str(Path(__file__).resolve().parents[2])
    installed = {str(Path(p).resolve()) for p in [*site.getsitepackages(),
                                                   site.getusersitepackages()]}
    parts = [p for p in current.split(os.pathsep) if p]
    if home in installed or home in parts:
        return current
    return os.pathsep.join([home, *parts])


def die_with_parent() -> None:
    """In Voila (from its config): get SIGTERM when the process named by ``PARENT`` dies, and
    then delete the sandbox as Voila exits, on Linux; elsewhere, or without ``PARENT``, do
    nothing. The variable is removed so that the kernels do not inherit it."""
    parent = int(os.environ.pop(PARENT, "0"))
    if not parent or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return
    atexit.register(_orphaned, parent, Path(os.environ["JUPYTER_CONFIG_DIR"]).parent)
    if os.getppid() != parent:  # it died before prctl: nobody will signal us
        os.kill(os.getpid(), signal.SIGTERM)


def _orphaned(parent: int, root: Path) -> None:
    """At Voila's exit: delete the sandbox if the process that made it is gone (else it
    reads Voila's log first, then deletes it)."""
    if os.getppid() != parent:
        remove(root)


def remove(root: Path) -> None:
    """Delete a sandbox (the notebook, the logs, the kernels' runtime files)."""
    shutil.rmtree(root, ignore_errors=True)
