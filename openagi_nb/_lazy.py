"""Public names that load on first use (PEP 562), so importing a package starts nothing heavy.

A package lists where each of its public names lives and takes its module ``__getattr__`` and
``__dir__`` from :func:`attach`; its ``TYPE_CHECKING`` imports name the same things for type
checkers and readers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, homes: Mapping[str, str], names: list[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: the package's ``__name__``.
        homes: public name -> the module it lives in, relative (``"._app"``); a name whose home
            is ``".name"`` is that submodule itself.
        names: the package's ``__all__``.
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(home, package)
        value = module if home == f".{name}" else getattr(module, name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
