"""The kernel facts `runtime/reactor/_uring.py`'s essay relies on, shown on this kernel.

One test per name the essay gives, in the essay's order, on real sockets
(socketpairs and loopback TCP). Skipped where the Ring was not built or the
kernel refuses io_uring.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time

import pytest

from tests.helpers import assert_would_block, socket_pair, tcp_pair
from tests.helpers.uring import reap, reap_all, run_with_io_uring_refused, uring
from tests.reactor.test_epoll_facts import sigalrm_every

Completion, Completions, Ring = uring.Completion, uring.Completions, uring.Ring


# 1. Nothing is submitted until io_uring_enter.


def test_nothing_happens_before_enter(ring: Ring, completions: Completions) -> None:
    with socket_pair() as (a, b):
        ring.send(a.fileno(), b"queued", token=1)
        ring.nop(token=2)
        assert ring.queued == 2
        time.sleep(0.05)
        assert_would_block(lambda: b.recv(100))  # the send sits in our memory only
        assert ring.ready == 0
        assert ring.submit() == 2 and ring.queued == 0
        assert reap_all(ring, completions, 2) == {1: 6, 2: 0}
        assert b.recv(100) == b"queued"


# 2. The kernel writes into the buffer after the submitting call returned.


def test_recv_waits_on_a_nonblocking_socket_and_writes_later(
    ring: Ring, completions: Completions
) -> None:
    with socket_pair() as (a, b):
        assert not a.getblocking()
        buf = bytearray(b"." * 16)
        ring.recv(a.fileno(), buf, token=1)
        # No -EAGAIN, although the socket is O_NONBLOCK: the recv waits in the kernel.
        assert ring.submit_and_wait(completions, 0.05) == 0
        assert buf == b"." * 16
        b.send(b"late")
        assert reap(ring, completions) == {1: 4}
        assert buf == b"late" + b"." * 12  # written by the kernel, after submit returned


# 3. Completions come back in the order they complete.


def test_completions_arrive_in_completion_order(ring: Ring, completions: Completions) -> None:
    with socket_pair() as (a1, b1), socket_pair() as (a2, b2):
        buf1, buf2 = bytearray(8), bytearray(8)
        ring.recv(a1.fileno(), buf1, token=1)
        ring.recv(a2.fileno(), buf2, token=2)
        assert ring.submit_and_wait(completions, 0.05) == 0
        b2.send(b"second")  # the later submission completes first
        assert ring.submit_and_wait(completions, 1.0) == 1
        assert [c.token for c in completions] == [2]
        b1.send(b"first")
        assert reap(ring, completions) == {1: 5}


# 4. ASYNC_CANCEL races the operation.


def test_cancel_of_a_pending_recv_completes_it_with_ecanceled(
    ring: Ring, completions: Completions
) -> None:
    with socket_pair() as (a, b):
        ring.recv(a.fileno(), bytearray(8), token=1)
        assert ring.submit_and_wait(completions, 0.05) == 0
        ring.cancel(1, token=99)
        assert reap_all(ring, completions, 2) == {1: -errno.ECANCELED, 99: 0}
        b.send(b"after")  # nothing took it: it is still in the socket
        assert a.recv(100) == b"after"
        assert ring.in_flight == 0


def test_cancel_after_completion_finds_nothing_and_the_data_stands(
    ring: Ring, completions: Completions
) -> None:
    with socket_pair() as (a, b):
        buf = bytearray(8)
        ring.recv(a.fileno(), buf, token=1)
        b.send(b"data")
        assert reap(ring, completions) == {1: 4}
        ring.cancel(1, token=99)
        assert reap(ring, completions) == {99: -errno.ENOENT}
        assert buf[:4] == b"data"


def test_a_cancel_racing_arrived_data_loses_nothing(ring: Ring, completions: Completions) -> None:
    # The data is in the socket before the cancel is submitted, but nobody
    # has reaped the recv: either the recv wins (data in the buffer, the
    # cancel finds nothing) or the cancel wins (the bytes stay in the socket).
    with socket_pair() as (a, b):
        buf = bytearray(8)
        ring.recv(a.fileno(), buf, token=1)
        ring.submit()
        b.send(b"race")
        ring.cancel(1, token=99)
        got = reap_all(ring, completions, 2)
        if got[1] == 4:
            assert buf[:4] == b"race" and got[99] in (-errno.ENOENT, -errno.EALREADY)
        else:
            assert got == {1: -errno.ECANCELED, 99: 0}
            assert a.recv(100) == b"race"


# 5. A pending operation holds its own reference to the file.


def test_closing_the_fd_does_not_end_a_pending_recv(ring: Ring, completions: Completions) -> None:
    with socket_pair() as (a, b):
        ring.recv(a.fileno(), bytearray(8), token=1)
        assert ring.submit_and_wait(completions, 0.05) == 0
        os.close(a.detach())
        time.sleep(0.05)
        # The fd is gone, but the recv still holds the socket open: no EOF.
        assert_would_block(lambda: b.recv(100))
        ring.cancel(1, token=99)
        assert reap_all(ring, completions, 2)[1] == -errno.ECANCELED
        b.setblocking(True)
        b.settimeout(2)
        assert b.recv(100) == b""  # the recv dropped the last reference: EOF now


# 6. A peer's reset completes a pending recv with -ECONNRESET.


def test_peer_reset_completes_a_pending_recv_with_econnreset(
    ring: Ring, completions: Completions
) -> None:
    with tcp_pair() as (client, server):
        ring.recv(server.fileno(), bytearray(64), token=1)
        assert ring.submit_and_wait(completions, 0.05) == 0
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # linger 0: an RST instead of a FIN
        assert reap(ring, completions) == {1: -errno.ECONNRESET}


# 7. Completions are not dropped when the CQ ring is full.


def test_more_completions_than_cq_slots_are_not_lost(completions: Completions) -> None:
    with Ring(8, cq_entries=16) as ring:
        assert ring.cq_entries == 16
        for token in range(100):
            ring.nop(token)  # the SQ (8) fills and is flushed as we go
        ring.submit()
        seen: list[int] = []
        while len(seen) < 100:
            if not ring.submit_and_wait(completions, 1.0):
                break
            seen += [c.token for c in completions]
        assert sorted(seen) == list(range(100))
        assert ring.in_flight == 0


# 8. The submission ring is bounded.


def test_a_full_submission_queue_is_flushed_and_retried(completions: Completions) -> None:
    with Ring(4) as ring, socket_pair() as (a, b):
        for token in range(4):
            ring.nop(token)
        assert ring.queued == 4 and ring.sq_entries == 4
        ring.send(a.fileno(), b"fifth", token=4)  # no slot: submit the four, then queue it
        assert ring.queued == 1 and ring.in_flight == 5
        assert sorted(reap_all(ring, completions, 5).items()) == [
            (0, 0), (1, 0), (2, 0), (3, 0), (4, 5)]
        assert b.recv(100) == b"fifth"


# 9. A signal interrupts the wait.


@pytest.mark.timeout(10)
def test_wait_retries_after_a_signal_with_the_remaining_timeout(
    ring: Ring, completions: Completions
) -> None:
    ticks: list[float] = []
    with socket_pair() as (a, _):
        ring.recv(a.fileno(), bytearray(8), token=1)  # submitted by the first wait
        with sigalrm_every(0.02, ticks):
            start = time.perf_counter()
            n = ring.submit_and_wait(completions, 0.25)
            end = time.perf_counter()
        assert n == 0 and end - start >= 0.25
        # Each tick inside the wait is an interrupted io_uring_enter waited again.
        assert len([t for t in ticks if start < t < end]) >= 5, ticks
        assert end - start < 0.25 + 0.2
        ring.cancel(1, token=99)
        assert reap_all(ring, completions, 2)[1] == -errno.ECANCELED


# 10. With DEFER_TASKRUN, completions are posted only at enter.


def test_deferred_completions_are_posted_at_enter(ring: Ring, completions: Completions) -> None:
    if not ring.defer_taskrun:
        pytest.skip("this kernel refused IORING_SETUP_DEFER_TASKRUN (before 6.1)")
    with socket_pair() as (a, b):
        ring.recv(a.fileno(), bytearray(8), token=1)
        ring.submit()
        b.send(b"here")
        time.sleep(0.05)  # other syscalls do not post it either
        assert ring.ready == 0
        assert ring.submit_and_wait(completions, 0) == 1  # GETEVENTS runs the deferred work
        assert list(completions) == [Completion(1, 4, 0)]


# 11. io_uring_setup can be refused.


@pytest.mark.timeout(60)
def test_a_refused_setup_raises_uring_unavailable() -> None:
    child = run_with_io_uring_refused("""
        from runtime.reactor._uring import Ring
        from runtime.reactor.errors import UringUnavailableError
        try:
            Ring(8)
        except UringUnavailableError as exc:
            print("refused", exc.errno, exc)
        else:
            print("accepted")
    """)
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith(f"refused {errno.EPERM} "), child.stdout
    assert "io_uring is not available here" in child.stdout


# 13. Features come with kernel versions, and the probe lists opcodes.


def _kernel() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def test_the_probe_finds_this_kernels_features_and_the_environment_turns_them_off(
        ring: Ring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(uring.DISABLE_ENV, raising=False)
    kernel = _kernel()
    expect = set()
    if kernel >= (5, 19):
        expect |= {"accept_multishot", "buffer_ring"}
    if kernel >= (6, 0):
        expect.add("recv_multishot")
    with Ring(8) as fresh:
        assert fresh.features == expect
    monkeypatch.setenv(uring.DISABLE_ENV, "recv_multishot, buffer_ring")
    with Ring(8) as forced:
        assert forced.features == expect - {"recv_multishot", "buffer_ring"}
    monkeypatch.setenv(uring.DISABLE_ENV, "recv_multishop")
    with pytest.raises(ValueError, match="recv_multishop"):
        Ring(8)


# 14. A multishot operation completes many times.

F_MORE, F_BUFFER = uring.lib.IORING_CQE_F_MORE, uring.lib.IORING_CQE_F_BUFFER


def _needs(ring: Ring, feature: str) -> None:
    if feature not in ring.features:
        pytest.skip(f"this kernel lacks io_uring's {feature} (see fact 13)")


def test_a_multishot_receive_completes_per_arrival_in_provided_buffers(
        ring: Ring, completions: Completions) -> None:
    _needs(ring, "recv_multishot")
    buffers = ring.buffer_ring(4, 64)
    with socket_pair() as (a, b):
        ring.recv_multishot(a.fileno(), buffers, token=1)
        got = []
        for message in (b"one", b"two", b"three", b"four", b"five", b"six"):
            b.send(message)
            [c] = list(reap_completions(ring, completions))
            assert c.token == 1 and c.flags & F_MORE and c.flags & F_BUFFER
            got.append(buffers.take(c.flags, c.result))  # recycled: 6 arrivals, 4 buffers
        assert got == [b"one", b"two", b"three", b"four", b"five", b"six"]
        assert ring.in_flight == 1  # still armed
        b.close()
        [eof] = list(reap_completions(ring, completions))
        assert (eof.token, eof.result, eof.flags & F_MORE) == (1, 0, 0)
        assert ring.in_flight == 0


def test_a_multishot_receive_ends_with_enobufs_when_the_buffers_run_out(
        ring: Ring, completions: Completions) -> None:
    _needs(ring, "recv_multishot")
    buffers = ring.buffer_ring(2, 64)
    with socket_pair() as (a, b):
        ring.recv_multishot(a.fileno(), buffers, token=1)
        results = []
        for message in (b"one", b"two", b"three"):
            b.send(message)
            results += [(c.result, bool(c.flags & F_MORE)) for c in
                        reap_completions(ring, completions)]
        # Two buffers held (never given back): the third arrival has none.
        assert results == [(3, True), (3, True), (-errno.ENOBUFS, False)]
        assert ring.in_flight == 0
        assert a.recv(10) == b"three"  # still in the socket, not lost


def reap_completions(ring: Ring, completions: Completions) -> list[Completion]:
    """The completions of one wait (up to 2 s)."""
    ring.submit_and_wait(completions, 2.0)
    return list(completions)
