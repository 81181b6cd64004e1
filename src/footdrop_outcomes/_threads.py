"""How many BLAS/OpenMP threads the toolkit's model fits may use (default: one).

The fits (Cox, time-varying Cox, mixed models, GEE, AFT) do many small or tall-and-skinny
matrix products. OpenBLAS answers each with all its threads; on a shared 2-core server with
other work running those threads wait for each other, and the same 20,000-patient REML fit
took 4.5 s with the default threads against 0.87 s with one (issue 16). So inside a fit the
BLAS and OpenMP pools are held to a set number of threads (``threadpoolctl``) and restored
afterwards; outside the fits nothing changes.

The number, first match wins:

1. :func:`set_threads` (package-level setting for this Python process), e.g.
   ``set_threads(2)``; ``set_threads(None)`` clears it;
2. the environment variable ``FOOTDROP_THREADS`` (a whole number >= 1, or ``all`` for no
   limit), read at every fit;
3. the default, **1**.

``"all"`` (or 0) leaves the libraries' own thread counts alone. The limit applies to the
calling process only (worker processes of ``impute(n_jobs=)`` or Dask read the same environment
variable).

Examples
--------
>>> from footdrop_outcomes._threads import fit_threads, set_threads, threads_limited
>>> set_threads(None); fit_threads()
1
>>> with threads_limited():
...     pass                       # BLAS held to one thread in here
>>> set_threads("all"); fit_threads() is None
True
>>> set_threads(None)
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from footdrop_outcomes.errors import ConfigError

__all__ = ["DEFAULT_THREADS", "ENV_VAR", "fit_threads", "limit_threads", "set_threads", "threads_limited"]

ENV_VAR = "FOOTDROP_THREADS"
DEFAULT_THREADS = 1

_UNSET: Any = object()
_setting: int | None | Any = _UNSET  # int (>= 1), None (no limit: "all"), or _UNSET
_controller: Any = None
_n_modules = 0
_lock = threading.Lock()
_local = threading.local()

F = TypeVar("F", bound=Callable[..., Any])


def _parse(value: int | str | None, what: str) -> int | None:
    """An int >= 1, or None for "all"/0 (no limit)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("all", "0", ""):
            return None
        if not text.isdigit():
            raise ConfigError(f"{what} must be a whole number >= 1 or 'all' (no limit)")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{what} must be a whole number >= 1 or 'all' (no limit)")
    return None if value == 0 else int(value)


def set_threads(n: int | Literal["all"] | None) -> None:
    """Set the number of BLAS/OpenMP threads the toolkit's fits may use in this process.

    Parameters
    ----------
    n : int, "all" or None
        A whole number >= 1; ``"all"`` (or 0) for no limit (the libraries' defaults); None
        clears the setting (then ``FOOTDROP_THREADS``, else 1).
    """
    global _setting
    _setting = _UNSET if n is None else _parse(n, "set_threads(n)")


def fit_threads() -> int | None:
    """The thread limit that fits use now: an int, or None for no limit. See the module docstring."""
    if _setting is not _UNSET:
        return _setting  # type: ignore[no-any-return]
    env = os.environ.get(ENV_VAR)
    if env is not None:
        return _parse(env, f"environment variable {ENV_VAR}")
    return DEFAULT_THREADS


def _get_controller() -> Any:
    """threadpoolctl's list of loaded BLAS/OpenMP libraries, refreshed when modules were imported since (about 1 ms)."""
    global _controller, _n_modules
    with _lock:
        if _controller is None or len(sys.modules) != _n_modules:
            import numpy  # noqa: F401  (load the BLAS libraries before they are listed)
            import scipy.linalg  # noqa: F401
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
            _n_modules = len(sys.modules)
        return _controller


@contextmanager
def threads_limited(n: int | Literal["all"] | None = None) -> Iterator[None]:
    """Hold BLAS/OpenMP pools to ``n`` threads (default :func:`fit_threads`) inside the block.

    Nested use inside a limited block changes nothing (the outer limit stays).
    """
    limit = fit_threads() if n is None else _parse(n, "threads_limited(n)")
    depth = getattr(_local, "depth", 0)
    if limit is None or depth > 0:
        _local.depth = depth + 1
        try:
            yield
        finally:
            _local.depth = depth
        return
    ctl = _get_controller()
    _local.depth = depth + 1
    try:
        with ctl.limit(limits=limit):
            yield
    finally:
        _local.depth = depth


def limit_threads(func: F) -> F:
    """Decorator: run ``func`` with BLAS/OpenMP threads limited (:func:`threads_limited`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with threads_limited():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
