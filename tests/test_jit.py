"""The numba helper: cached where it can be, compiled anyway where it cannot."""

from __future__ import annotations

import numpy as np
import pytest


def _loop():
    def total(x):  # a fresh function each time: numba keeps no dispatcher of it yet
        s = 0.0
        for v in x:
            s += v
        return s

    return total


def test_a_loop_is_compiled_and_cached():
    from numba.core.caching import NullCache

    from fingerprints.jit import compiled

    f = compiled(_loop())
    assert f(np.arange(5.0)) == 10.0
    assert not isinstance(f._cache, NullCache)


def test_without_a_writable_cache_folder_the_loop_is_compiled_all_the_same(monkeypatch):
    import numba
    from numba.core import caching

    from fingerprints.jit import compiled

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])  # as if none were writable
    with pytest.raises(RuntimeError, match="cannot cache"):
        numba.njit(cache=True)(_loop())  # what numba does on its own
    f = compiled(_loop())
    assert f(np.arange(4.0)) == 6.0
    assert isinstance(f._cache, caching.NullCache)


def test_a_loop_compiled_on_first_use_answers_as_the_python_function(monkeypatch):
    from fingerprints import jit

    made = []
    real = jit.compiled
    monkeypatch.setattr(jit, "compiled", lambda f: made.append(f) or real(f))
    py = _loop()
    f = jit.on_first_use(py)
    assert made == [] and f.__name__ == "total"  # nothing compiled until it is called
    x = np.arange(6.0)
    assert f(x) == py(x) == 15.0 and f(x) == 15.0
    assert made == [py]  # compiled once, then reused
