"""The reactor's typed errors. Each names the fd or object that was wrong."""

import errno as _errno


class AlreadyRegisteredError(FileExistsError):
    """The source is already registered with this `Poll` (mio: ``AlreadyExists``)."""

    def __init__(self, fd: int) -> None:
        super().__init__(_errno.EEXIST, f"fd {fd} is already registered with this Poll")
        self.fd = fd


class NotRegisteredError(FileNotFoundError):
    """`reregister`/`deregister` of a source this `Poll` does not hold."""

    def __init__(self, fd: int) -> None:
        super().__init__(_errno.ENOENT, f"fd {fd} is not registered with this Poll")
        self.fd = fd


class PollClosedError(ValueError):
    """The `Poll` (or its `Registry`) was used after `Poll.close`.

    A `ValueError`, as Python's own closed files and epoll objects raise.
    """


class WakerExistsError(RuntimeError):
    """A second `Waker` for one `Poll`: mio allows one, and so do we."""


class UringUnavailableError(OSError):
    """io_uring cannot be used here: not built, refused by the kernel, or too old a kernel."""


class SubmissionQueueFullError(OSError):
    """A `Ring` has no free SQE even after submitting everything queued."""


class RingClosedError(ValueError):
    """The `Ring` (or its `RingWaker`) was used after `Ring.close`."""
