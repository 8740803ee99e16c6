"""Lazy public API of a package: names imported from their module on first access (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package`` exporting ``names``.

    Parameters
    ----------
    package
        The package's ``__name__`` (for error messages).
    names
        ``{public name: module that defines it}``.

    Examples
    --------
    >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {"run": "fmslab.ephys.flow"})
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
