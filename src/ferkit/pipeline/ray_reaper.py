"""A local Ray instance that ferkit starts ends with the process that started it, however that ends.

Ray's head processes are children of the driver; when the driver is killed (SIGKILL, the OOM killer, a
session's end) Ray's agents outlive it. :func:`reap_with_this_process` starts a small watchdog process
holding the read end of a pipe from this one: while this process lives it notes every descendant of Ray's
head processes; when the pipe closes (this process ended) it stops each one still running. It runs as
``python .../ray_reaper.py PID...`` and imports nothing of ferkit, so that it watches from its first moment.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys

_WATCHDOGS: list[subprocess.Popen] = []  # their stdin pipes stay open exactly as long as this process


def reap_with_this_process(pids: list[int]) -> None:
    """Have the processes ``pids`` (and all their descendants) stopped when this process ends."""
    if not pids:
        return
    watchdog = subprocess.Popen(
        [sys.executable, __file__, *map(str, pids)],  # by path: no package import, so it watches at once
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to this terminal's group must not stop the watchdog first
    )
    _WATCHDOGS.append(watchdog)


def _watch(pids: list[int], poll_s: float = 0.5) -> None:
    import psutil

    roots = []
    for pid in pids:
        try:
            roots.append(psutil.Process(pid))
        except psutil.Error:
            continue
    known = {p.pid: p for p in roots}
    while True:
        for root in roots:  # first, then at every poll: descendants are seen before their parents die
            try:
                known.update({c.pid: c for c in root.children(recursive=True)})
            except psutil.Error:
                continue
        ready, _, _ = select.select([sys.stdin], [], [], poll_s)
        if ready and not os.read(sys.stdin.fileno(), 1):
            break  # end of file: the process that started Ray is gone
    alive = [p for p in known.values() if p.is_running()]  # is_running also guards against reused PIDs
    for p in alive:
        try:
            p.terminate()
        except psutil.Error:
            continue
    _, still = psutil.wait_procs(alive, timeout=3)
    for p in still:
        try:
            p.kill()
        except psutil.Error:
            continue


if __name__ == "__main__":
    _watch([int(a) for a in sys.argv[1:]])
