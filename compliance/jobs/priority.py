"""Lower the CPU priority of batch work (scan workers) below the API's.

``os.nice`` alone is not enough on Linux with *autogroup* scheduling
(``/proc/sys/kernel/sched_autogroup_enabled``, on by default on desktop and many server
kernels): the scheduler first shares the CPU fairly between sessions, and a nice value
only ranks the threads inside one session. A worker started in a session of its own
(systemd, a supervisor, ``setsid``) then gets the same CPU share as the API process
however nice it is: measured here, the API process of the load test spent more time
waiting for a core (5.2 s) than running (4.1 s) while "nice 10" workers scanned.

So a worker that leads its own session also sets the nice value of its autogroup
(``/proc/self/autogroup``, see sched(7)). A worker that shares a session (started from
a shell beside the server) leaves the autogroup alone: it would slow the server too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("compliance.worker")

AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(increment: int, *, autogroup: Path | None = None) -> list[str]:
    """Make this process ``increment`` nicer, and its autogroup too when it leads it.

    Parameters
    ----------
    increment : int
        Added to the nice value (0..19; 0 changes nothing).
    autogroup : Path, optional
        The autogroup file (default :data:`AUTOGROUP`).

    Returns
    -------
    list of str
        What was changed: ``"nice"``, ``"autogroup"`` (for the start-up log).
    """
    done: list[str] = []
    if increment <= 0:
        return done
    autogroup = AUTOGROUP if autogroup is None else autogroup
    try:
        os.nice(increment)
        done.append("nice")
    except (AttributeError, OSError) as exc:  # no os.nice (Windows), or not permitted
        log.warning("cannot lower priority: %s", exc)
    if _leads_session() and autogroup.exists():
        try:
            current = _autogroup_nice(autogroup.read_text())
            autogroup.write_text(str(min(19, current + increment)))
            done.append("autogroup")
        except (OSError, ValueError) as exc:  # read-only /proc, or an unknown format
            log.warning("cannot lower the autogroup's priority: %s", exc)
    return done


def _leads_session() -> bool:
    try:
        return os.getsid(0) == os.getpid()
    except (AttributeError, OSError):
        return False


def _autogroup_nice(text: str) -> int:
    """``"/autogroup-85 nice 0"`` -> 0."""
    parts = text.split()
    if len(parts) != 3 or parts[1] != "nice":
        raise ValueError(f"unexpected autogroup line {text.strip()!r}")
    return int(parts[2])
