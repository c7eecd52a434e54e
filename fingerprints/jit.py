"""numba compilation of the library's few hot loops, cached on disk where possible."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def compiled(py_func: Callable) -> Callable:
    """``py_func`` compiled by numba (imported here, on first use), its machine code cached
    beside the module or in the user's cache folder (``NUMBA_CACHE_DIR``) so that later
    processes load it instead of compiling. Where no cache folder is writable (a
    read-only install run by an account without a home), numba refuses to cache; the
    function is then compiled in every process rather than failing."""
    import numba

    try:
        return numba.njit(cache=True)(py_func)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(cache=False)(py_func)


def on_first_use(py_func: Callable) -> Callable:
    """A function that compiles ``py_func`` (:func:`compiled`) when it is first called,
    so that importing its module imports no numba, and calls the machine code from
    then on."""
    kernel: Callable | None = None

    def call(*args: Any) -> Any:
        nonlocal kernel
        if kernel is None:
            kernel = compiled(py_func)
        return kernel(*args)

    call.__name__ = call.__qualname__ = py_func.__name__
    call.__doc__ = py_func.__doc__
    return call
