"""Happy eyeballs (RFC 8305): `connect_first` over loopback targets only.

A target that *refuses* is a bound port nobody listens on. A target that
*never answers* is a listener whose accept queue is full: Linux drops the
SYN and the client retransmits after a second, so within a test the connect
simply hangs, and nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import types
from collections.abc import Iterator

import pytest

import runtime
from runtime.io import TcpListener, TcpStream
from runtime.io.happy_eyeballs import connect_first, interleave_families
from tests.helpers import HAS_IPV6, refused_address

V4, V6 = socket.AF_INET, socket.AF_INET6


def target(address: tuple[str, int]) -> tuple[int, int, int, tuple[str, int]]:
    family = V6 if ":" in address[0] else V4
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, address)


@contextlib.contextmanager
def unanswering_address() -> Iterator[tuple[str, int]]:
    """A loopback address where a connect stays in progress (full accept queue)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        fillers = []
        try:
            for _ in range(4):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(address)
                fillers.append(s)
            yield address
        finally:
            for s in fillers:
                s.close()


def test_interleave_families_alternates_starting_with_the_first_family() -> None:
    t = [(V6, 1, 6, ("a", 0)), (V6, 1, 6, ("b", 0)), (V6, 1, 6, ("c", 0)),
         (V4, 1, 6, ("x", 0)), (V4, 1, 6, ("y", 0))]
    assert [x[3][0] for x in interleave_families(t)] == ["a", "x", "b", "y", "c"]
    assert interleave_families([]) == []


def test_a_refused_first_target_starts_the_second_at_once_without_waiting_the_delay() -> None:
    async def main() -> tuple[tuple[str, int], tuple[str, int], float]:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            with refused_address() as refused:
                start = runtime.current_time()
                sock = await connect_first(
                    [target(refused), target(listener.local_address)], delay=5.0)
                took = runtime.current_time() - start
            with sock:
                return sock.getpeername(), listener.local_address, took

    peer, listening, took = runtime.run(main())
    assert peer == listening
    assert took < 1.0  # not the 5 s delay


def test_a_first_target_that_never_answers_is_overtaken_after_the_delay() -> None:
    async def main() -> tuple[tuple[str, int], tuple[str, int], float]:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            with unanswering_address() as silent:
                start = runtime.current_time()
                sock = await connect_first(
                    [target(silent), target(listener.local_address)], delay=0.1)
                took = runtime.current_time() - start
            with sock:
                return sock.getpeername(), listener.local_address, took

    peer, listening, took = runtime.run(main())
    assert peer == listening
    # The second attempt started when the delay ran out, long before the
    # first could have failed (SYN retransmits take seconds); the losing
    # attempt was cancelled and its socket closed (the leak check sees to it).
    assert 0.1 <= took < 0.9


def test_when_every_target_fails_the_error_names_every_address() -> None:
    async def main() -> OSError:
        with refused_address() as a, refused_address() as b:
            with pytest.raises(OSError) as info:
                await connect_first([target(a), target(b)], delay=0.25)
            text = str(info.value)
            assert str(a[1]) in text and str(b[1]) in text
            return info.value

    exc = runtime.run(main())
    assert "all 2 connection attempts failed" in str(exc)


def test_a_single_failing_target_raises_its_own_error() -> None:
    async def main() -> OSError:
        with refused_address() as a:
            with pytest.raises(ConnectionRefusedError) as info:
                await connect_first([target(a)], delay=0.25)
            return info.value

    assert "connect to" in str(runtime.run(main()))


def test_the_single_error_raised_is_referenced_by_nothing_left_behind() -> None:
    # anyio's test_happy_eyeballs_refcycles (CPython PR 124859): a list of the
    # errors kept it, and with it every frame of the failed attempts, alive.
    async def main() -> list[object]:
        with refused_address() as a:
            try:
                await connect_first([target(a)], delay=0.25)
            except OSError as exc:
                frames = types.FrameType | types.CoroutineType
                return [r for r in gc.get_referrers(exc) if not isinstance(r, frames)]
        raise AssertionError("connect_first succeeded against a refused address")

    assert runtime.run(main()) == []


def test_two_targets_that_both_accept_yield_one_socket_and_close_the_other() -> None:
    async def main() -> int:
        async with await TcpListener.bind("127.0.0.1", 0) as one, \
                await TcpListener.bind("127.0.0.1", 0) as two:
            sock = await connect_first(
                [target(one.local_address), target(two.local_address)], delay=0.0)
            with sock:
                return sock.getpeername()[1]

    port = runtime.run(main())
    assert port > 0


@pytest.mark.skipif(not HAS_IPV6, reason="no ::1")
def test_mixed_families_an_ipv6_refusal_falls_back_to_ipv4() -> None:
    async def main() -> tuple[str, int]:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            port = listener.local_address[1]
            with refused_address("::1") as refused6:
                sock = await connect_first(
                    [target(refused6), target(("127.0.0.1", port))], delay=5.0)
            with sock:
                return sock.getpeername()

    assert runtime.run(main())[0] == "127.0.0.1"


def test_tcp_stream_connect_races_addresses_with_its_happy_eyeballs_delay() -> None:
    # Through the public API: the host resolves to one address here, so this
    # checks the delay argument is accepted and a plain connect still works.
    async def main() -> bytes:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            port = listener.local_address[1]
            async with await TcpStream.connect("localhost", port,
                                               happy_eyeballs_delay=0.05) as c, \
                    await listener.accept() as s:
                await s.write_all(b"raced")
                return await c.read_exact(5)

    assert runtime.run(main()) == b"raced"


def test_a_connect_cancelled_from_outside_closes_the_socket_that_had_won() -> None:
    # The race: an attempt connects and cancels its siblings, and then the
    # caller's own scope is cancelled while the group unwinds. The winner's
    # socket must be closed then, not left to the garbage collector.
    import gc
    import warnings

    async def cancel_after(scope: runtime.CancelScope, checkpoints: int) -> None:
        for _ in range(checkpoints):
            await runtime.checkpoint()
        scope.cancel()

    async def main(port: int) -> None:
        for i in range(200):
            with runtime.CancelScope() as scope:
                async with runtime.TaskGroup() as tg:
                    tg.spawn(cancel_after(scope, i % 8))
                    (await TcpStream.connect("127.0.0.1", port)).close()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(512)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            runtime.run(main(listener.getsockname()[1]))
            gc.collect()
    unclosed = [w for w in caught if "unclosed <socket" in str(w.message)]
    assert unclosed == []
