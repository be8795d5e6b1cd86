"""Subprocesses: `open_process`, `Process`, `run_process` (trio's, on our streams).

`open_process` starts the child with `subprocess.Popen` in a worker thread,
as trio does: ``Popen`` blocks its thread until the child has exec'ed (it
reads the exec-error pipe), and a big parent's fork can take milliseconds.
Measured (``benchmarks/subprocess_bench.py``, 2-core box under load):
``run_process(["true"])`` took 2.2-3.6 ms with ``Popen`` called in the
loop's thread, against 0.9-1.3 ms from a worker, interleaved; from the
worker the child runs while the loop is woken, so the exit is usually
there by the time the loop looks. For each stream asked for with ``PIPE``
we make the pipe ourselves (``os.pipe``: close-on-exec, so no other child
inherits our end), hand the child its end and wrap ours in a
non-blocking `PipeStream`.

`Process.wait` parks on `wait_child_exiting` (a pidfd in the reactor on
Linux; see ``executor/child.py``) and then reaps with ``Popen.wait``, which
returns at once for a child that has exited and records ``returncode``.

Cancellation, trio's rule: a cancelled `run_process` hands the child to
``deliver_cancel`` (by default: SIGTERM, up to 5 s, then SIGKILL), waits
for it to exit, reaps it, closes the pipes, and re-raises. No zombie, no fd
is left behind on any path.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import IO, Any

from ..errors import BrokenResourceError
from ..executor import CancelScope, TaskGroup, TaskStatus, move_on_after, to_thread
from ..lowlevel import checkpoint, wait_child_exiting
from ..resource import Resource
from .pipe import PipeStream

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT

#: SIGTERM first; SIGKILL if the child has not exited this many seconds later.
TERMINATE_GRACE = 5.0

Command = str | bytes | os.PathLike[str] | Sequence[str | bytes | os.PathLike[str]]
Stdio = int | IO[Any] | None


class Process(Resource):
    """A running child process (trio's ``Process``).

    ``stdin``/``stdout``/``stderr`` are `PipeStream`s where `open_process`
    was given ``PIPE``, else None. ``returncode`` is None while it runs, then
    its exit status (negative: killed by that signal). ``async with
    process:`` closes the pipes and waits for it to exit (killing it if the
    wait is cancelled).
    """

    __slots__ = ("_popen", "stderr", "stdin", "stdout")

    def __init__(self, popen: subprocess.Popen[bytes], stdin: PipeStream | None,
                 stdout: PipeStream | None, stderr: PipeStream | None) -> None:
        self._popen = popen
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr

    @property
    def args(self) -> Any:
        return self._popen.args

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited and been reaped, else None."""
        return self._popen.poll()

    def poll(self) -> int | None:
        """`returncode`, reaping the child if it has exited (never blocks)."""
        return self._popen.poll()

    async def wait(self) -> int:
        """Wait for the child to exit; reap it and return its exit status.

        A cancellation point; several tasks may wait at once. Cancelling a
        wait leaves the child running (`run_process` is what kills on cancel).
        """
        if self._popen.poll() is not None:
            await checkpoint()
        elif sys.platform == "win32":
            await to_thread(self._popen.wait, abandon_on_cancel=True)
        else:
            try:
                await wait_child_exiting(self._popen.pid)
            except ChildProcessError:
                if self._popen.returncode is None:
                    raise
                # Another task's wait reaped it meanwhile: the status is recorded.
            # Exited: this reaps without blocking (on macOS the kernel may
            # report the exit a moment before waitpid can reap; trio notes the
            # same, and this wait then blocks for that moment).
            self._popen.wait()
        assert self._popen.returncode is not None
        return self._popen.returncode

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the child; nothing if it has been reaped already."""
        self._popen.send_signal(sig)

    def terminate(self) -> None:
        """SIGTERM (``TerminateProcess`` on Windows)."""
        self._popen.terminate()

    def kill(self) -> None:
        """SIGKILL (``TerminateProcess`` on Windows)."""
        self._popen.kill()

    def close(self) -> None:
        """Close the pipes now; the child is not waited for (`aclose` does both)."""
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                stream.close()

    async def aclose(self) -> None:
        """Close the pipes, then wait for the child; if that wait is cancelled, kill it first."""
        self.close()
        try:
            await self.wait()
        finally:
            if self._popen.returncode is None:
                await self._kill_and_reap()

    async def _kill_and_reap(self) -> None:
        # SIGKILL cannot be refused: the shielded wait takes the kernel a
        # moment, not the child's cooperation.
        with contextlib.suppress(OSError):
            self._popen.kill()
        with CancelScope(shield=True):
            await self.wait()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        code = self._popen.returncode
        state = "running" if code is None else f"exited with {code}"
        return f"<runtime.Process {self.args!r}: pid {self.pid}, {state}>"


def _child_end(option: Stdio, ours: list[int], we_read: bool) -> tuple[Stdio, int | None]:
    """What to pass Popen for one stream, and our end of a new pipe (for ``PIPE``)."""
    if option is not PIPE:
        return option, None
    if sys.platform == "win32":
        raise NotImplementedError(
            "runtime's subprocess pipes need non-blocking pipe fds, which Windows does not "
            "have; pass a file, DEVNULL or None instead of PIPE")
    r, w = os.pipe()
    ours.extend((r, w))
    # The child reads its stdin from r (we write w); it writes stdout/stderr to w.
    return (w, r) if we_read else (r, w)


async def open_process(command: Command, *, stdin: Stdio = None, stdout: Stdio = None,
                       stderr: Stdio = None, **options: Any) -> Process:
    """Start ``command`` as a child process; return its `Process` once it runs.

    ``command`` is a sequence of arguments (or a string with ``shell=True``).
    ``stdin``/``stdout``/``stderr``: ``PIPE`` (a `PipeStream` on the
    `Process`), ``DEVNULL``, an fd or file, or None (inherit ours);
    ``stderr=STDOUT`` merges. Other keywords go to `subprocess.Popen`
    (``cwd``, ``env``, ``start_new_session``, ``pass_fds``, ...). A missing
    executable raises `FileNotFoundError` naming it. Not a cancellation
    point once started: a started child is always returned (trio's rule),
    so its caller can stop it.
    """
    for name, value in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
        if isinstance(value, (bytes, bytearray, str)):
            raise TypeError(f"open_process {name}= takes PIPE, DEVNULL, an fd, a file or None, "
                            f"not {type(value).__name__} (run_process takes input=)")
    for key in ("universal_newlines", "text", "encoding", "errors"):
        if options.get(key):
            raise TypeError(f"open_process works in bytes; {key}= is not supported")
    if options.get("shell") and not isinstance(command, (str, bytes)):
        raise TypeError("with shell=True the command must be a string")
    ours: list[int] = []
    try:
        child_in, our_in = _child_end(stdin, ours, we_read=False)
        child_out, our_out = _child_end(stdout, ours, we_read=True)
        child_err, our_err = _child_end(stderr, ours, we_read=True)
        popen: subprocess.Popen[bytes] = await to_thread(functools.partial(
            subprocess.Popen, command, stdin=child_in, stdout=child_out,  # type: ignore[arg-type]
            stderr=child_err, **options))
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    # The child has its ends (dup'ed onto 0/1/2); ours alone stay open here.
    for fd in ours:
        if fd not in (our_in, our_out, our_err):
            os.close(fd)
    name = f"process {popen.pid}"
    return Process(
        popen,
        None if our_in is None else PipeStream(our_in, f"stdin of {name}"),
        None if our_out is None else PipeStream(our_out, f"stdout of {name}"),
        None if our_err is None else PipeStream(our_err, f"stderr of {name}"),
    )


async def terminate_then_kill(process: Process) -> None:
    """The default ``deliver_cancel``: SIGTERM, then SIGKILL after `TERMINATE_GRACE` s."""
    try:
        process.terminate()
    except OSError:
        return  # gone already
    with move_on_after(TERMINATE_GRACE):
        await process.wait()
        return
    warnings.warn(RuntimeWarning(f"{process!r} ignored SIGTERM for {TERMINATE_GRACE} s; "
                                 "sending SIGKILL"), stacklevel=1)
    with contextlib.suppress(OSError):
        process.kill()


async def run_process(command: Command, *, input: bytes | None = None,
                      capture_stdout: bool = False, capture_stderr: bool = False,
                      check: bool = True,
                      deliver_cancel: Callable[[Process], Awaitable[object]] | None = None,
                      task_status: TaskStatus[Process] | None = None,
                      **options: Any) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` to completion; return a `subprocess.CompletedProcess`.

    ``input`` (bytes) is written to its stdin, which is then closed (default:
    no input, stdin is ``DEVNULL``; pass ``stdin=`` to choose). With
    ``capture_stdout``/``capture_stderr`` the output is collected into the
    result. With ``check`` (default) a non-zero exit raises
    `subprocess.CalledProcessError` carrying the output. If the call is
    cancelled, ``deliver_cancel(process)`` runs (default `terminate_then_kill`),
    the child is waited for and reaped, and `Cancelled` propagates. Other
    keywords go to `open_process`. Under ``TaskGroup.start`` the `Process`
    is reported started.
    """
    if isinstance(input, str):
        raise TypeError("run_process input= must be bytes, not str")
    if input is not None:
        if "stdin" in options:
            raise ValueError("run_process takes input= or stdin=, not both")
        options["stdin"] = PIPE
    else:
        options.setdefault("stdin", DEVNULL)
    for captured, key in ((capture_stdout, "stdout"), (capture_stderr, "stderr")):
        if captured:
            if key in options:
                raise ValueError(f"run_process takes capture_{key}= or {key}=, not both")
            options[key] = PIPE
        elif options.get(key) is PIPE and task_status is None:
            raise ValueError(f"{key}=PIPE needs TaskGroup.start (to reach the pipe); "
                             f"use capture_{key}=True")
    if deliver_cancel is None:
        deliver_cancel = terminate_then_kill
    out: list[bytes] = []
    err: list[bytes] = []
    process = await open_process(command, **options)
    try:
        async with TaskGroup() as tg:
            if input is not None:
                assert process.stdin is not None
                tg.spawn(_feed(process.stdin, input))
            if capture_stdout:
                assert process.stdout is not None
                tg.spawn(_collect(process.stdout, out))
            if capture_stderr:
                assert process.stderr is not None
                tg.spawn(_collect(process.stderr, err))
            if task_status is not None:
                task_status.started(process)
            try:
                await process.wait()
            except BaseException:
                await _stop(process, deliver_cancel)
                raise
    finally:
        process.close()
        if process._popen.returncode is None:
            await process._kill_and_reap()  # an error before the wait: never leave a child
    stdout = b"".join(out) if capture_stdout else None
    stderr = b"".join(err) if capture_stderr else None
    returncode = process._popen.returncode
    assert returncode is not None
    if check and returncode:
        raise subprocess.CalledProcessError(returncode, process.args, stdout, stderr)
    return subprocess.CompletedProcess(process.args, returncode, stdout, stderr)


async def _stop(process: Process, deliver_cancel: Callable[[Process], Awaitable[object]]) -> None:
    # Shielded: the caller was cancelled, and the child must still be
    # stopped and reaped before the cancellation goes on.
    with CancelScope(shield=True):
        async with TaskGroup() as tg:
            killer = CancelScope()

            async def deliver() -> None:
                with killer:
                    await deliver_cancel(process)

            tg.spawn(deliver())
            await process.wait()
            killer.cancel()


async def _feed(stdin: PipeStream, data: bytes) -> None:
    with stdin, contextlib.suppress(BrokenResourceError):
        await stdin.write_all(data)  # a child that exits without reading: fine


async def _collect(stream: PipeStream, chunks: list[bytes]) -> None:
    with stream:
        while chunk := await stream.read():
            chunks.append(chunk)


__all__ = ["DEVNULL", "PIPE", "STDOUT", "Process", "open_process", "run_process",
           "terminate_then_kill"]
