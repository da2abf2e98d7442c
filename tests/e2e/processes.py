"""Processes as Linux's /proc sees them: a process's descendants, and whether one still runs.

A process is named by (pid, start time), so that a pid the kernel hands out again is not taken
for the process that had it; a zombie (exited, not yet reaped) counts as gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support import wait_until

STOP_BOUND_S = 15.0  # every fitmon process stops its children and exits within this

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of `pid`, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the command, in parentheses, may hold spaces
    return fields[0], int(fields[19])


def proc(pid: int) -> Proc:
    stat = _stat(pid)
    assert stat is not None, f"process {pid} is not running"
    return pid, stat[1]


def running(process: Proc) -> bool:
    stat = _stat(process[0])
    return stat is not None and stat[1] == process[1] and stat[0] != "Z"


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def family(pid: int) -> set[Proc]:
    """`pid` and every process below it, as they run now."""
    found: set[Proc] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        stat = _stat(current)
        if stat is not None and stat[0] != "Z":
            found.add((current, stat[1]))
            todo.extend(children(current))
    return found


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "(gone)"


def stop_and_time(
    process: subprocess.Popen[bytes],
    processes: set[Proc],
    signum: int | None,
    *,
    group: bool = False,
) -> float:
    """Send `signum` to `process` (or to its process group, as Ctrl-C does; None: no signal, it
    stops by itself) and return how long it took until it and all of `processes` were gone; fail
    past STOP_BOUND_S."""
    started = time.monotonic()
    if signum is not None and group:
        os.killpg(process.pid, signum)
    elif signum is not None:
        process.send_signal(signum)
    try:
        process.wait(STOP_BOUND_S)
        wait_until(
            lambda: not any(running(p) for p in processes),
            max(0.1, STOP_BOUND_S - (time.monotonic() - started)),
            "every process to be gone",
        )
    except (subprocess.TimeoutExpired, AssertionError):
        left = sorted(f"{pid}: {command(pid)}" for pid, _ in processes if running((pid, _)))
        name = "no signal" if signum is None else signal.Signals(signum).name
        raise AssertionError(f"{name}: still running after {STOP_BOUND_S} s: {left}") from None
    finally:
        for pid, start in processes:  # whatever happened, leave nothing behind
            if running((pid, start)):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    return time.monotonic() - started
