"""Waiting for a child process to exit, as readiness: `wait_child_exiting`.

How the loop learns that a child has exited
-------------------------------------------
The classic way is ``SIGCHLD``: a process-wide signal, one handler, coalesced
(two children exiting together raise it once), so whoever handles it must
``waitpid`` every child it knows of, and it fights any other library that
wants the same signal. asyncio spent a decade on its "child watchers" for
that reason. We do not use it.

Linux (since 5.3) gives each child an fd instead: ``pidfd_open(pid)`` returns
a descriptor that becomes *readable* when the process exits (pidfd_open(2)).
That is ordinary readiness: the fd is registered with the reactor like a
socket and the task parks on the IO driver until the event comes
(``wait_readable``), on epoll and on io_uring (whose runner waits for
readiness through an epoll of its own). No thread, no signal, and each
waiter has its own fd, so several tasks may wait for the same child.

Where that cannot be done, the fallback is a worker thread blocked in
``waitid(P_PID, pid, WEXITED | WNOWAIT)``, abandoned if the waiting task is
cancelled: where ``pidfd_open`` is missing (another Unix, a kernel before
5.3, a sandbox that forbids it), and where the reactor refuses the pidfd.
libkqueue does (its ``EVFILT_READ`` rejects that kind of file with
``EINVAL``), and it has no ``EVFILT_PROC`` on Linux either (``ENOSYS``,
checked with a C probe), so the kqueue backend on Linux waits in a thread.
A BSD or macOS kernel's kqueue has ``EVFILT_PROC``/``NOTE_EXIT`` for this;
our kqueue backend does not register it (it could not be tested here). On
Windows, `Process.wait` waits on the process handle in a thread.

Either way this only *waits*: the child stays a zombie until its owner reaps
it (``Popen.poll()``/``os.waitpid``), so its pid cannot be reused while a
signal may still be sent to it, and ``Popen`` records the exit status
itself (trio's ``wait_child_exiting`` has the same contract).
"""

from __future__ import annotations

import errno
import os
import sys

from .io_wait import notify_closing, wait_readable
from .threads import to_thread

#: None until the first call finds out whether pidfd_open works here.
_pidfd_works: bool | None = None if hasattr(os, "pidfd_open") else False


def _open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid``; None if pidfds are unavailable (then: the fallback)."""
    global _pidfd_works
    if _pidfd_works is False:
        return None
    try:
        fd = os.pidfd_open(pid)
    except OSError as exc:
        if isinstance(exc, ProcessLookupError):
            raise
        if _pidfd_works is None:  # ENOSYS (kernel < 5.3) or EPERM (seccomp)
            _pidfd_works = False
            return None
        raise
    _pidfd_works = True
    return fd


async def wait_child_exiting(pid: int) -> None:
    """Return once child ``pid`` of this process has exited; it is not reaped.

    A cancellation point. The caller reaps the child afterwards (for a
    `subprocess.Popen`, ``popen.poll()``). Raises `ChildProcessError` if
    ``pid`` is not a child that can be waited for (already reaped, or not ours).
    """
    if sys.platform == "win32":
        raise NotImplementedError("wait_child_exiting takes a pid, which Windows cannot wait on; "
                                  "use runtime.Process.wait")
    try:
        fd = _open_pidfd(pid)
    except ProcessLookupError:
        raise ChildProcessError(f"no process {pid} to wait for (already reaped?)") from None
    if fd is not None:
        try:
            await wait_readable(fd)
            return
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            # The reactor cannot watch a pidfd (libkqueue): the thread, below.
        finally:
            notify_closing(fd)
            os.close(fd)
    await to_thread(os.waitid, os.P_PID, pid, os.WEXITED | os.WNOWAIT, abandon_on_cancel=True)
