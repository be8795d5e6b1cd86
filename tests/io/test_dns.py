"""`runtime.io.getaddrinfo`: numeric hosts in the loop, names off it, typed failures.

Nothing here may send a query off this machine: names are ``localhost``
(answered from /etc/hosts) and a name glibc rejects before any query is made
(a 64-byte label is longer than DNS allows, so it fails with ``EAI_NONAME``
at once; ``.invalid`` is reserved by RFC 2606 in case it ever got further).
"""

from __future__ import annotations

import socket
import threading

import pytest

import runtime
from runtime.io import TcpStream, getaddrinfo

UNRESOLVABLE = b"a" * 64 + b".invalid"


def _workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("runtime-worker")]


@pytest.mark.parametrize(("host", "family"), [("127.0.0.1", socket.AF_INET),
                                              ("::1", socket.AF_INET6)])
def test_numeric_hosts_are_answered_without_a_worker_thread(host: str, family: int) -> None:
    async def main() -> tuple[list, list[str]]:
        infos = await getaddrinfo(host, 80, type=socket.SOCK_STREAM)
        return infos, _workers()

    infos, workers = runtime.run(main())
    assert workers == []
    assert [(i[0], i[4][:2]) for i in infos] == [(family, (host, 80))]


def test_localhost_resolves_to_a_loopback_address_off_the_loop() -> None:
    async def main() -> tuple[set[str], bool]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await runtime.sleep(0)

        handle = runtime.spawn(ticker())
        infos = await getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        handle.abort()
        return {i[4][0] for i in infos}, ticks > 0

    addresses, loop_kept_running = runtime.run(main())
    assert addresses and addresses <= {"127.0.0.1", "::1"}
    assert loop_kept_running


def test_a_name_that_does_not_resolve_raises_gaierror_naming_it() -> None:
    async def main() -> tuple[socket.gaierror, float]:
        start = runtime.current_time()
        with runtime.fail_after(10), pytest.raises(socket.gaierror) as info:
            await getaddrinfo(UNRESOLVABLE, 80)
        return info.value, runtime.current_time() - start

    exc, took = runtime.run(main())
    assert exc.errno == socket.EAI_NONAME
    assert "a" * 64 in str(exc)
    assert took < 5
    assert exc.__context__ is None  # no chain back to the C library's own error


def test_the_same_name_as_str_fails_like_socket_getaddrinfo_before_any_lookup() -> None:
    # As text, the name goes through Python's IDNA codec first, which rejects
    # a label over 63 characters with UnicodeError: the stdlib's behaviour,
    # kept (no thread is started, nothing hangs).
    name = UNRESOLVABLE.decode()
    with pytest.raises(UnicodeError) as stdlib:
        socket.getaddrinfo(name, 80)

    async def main() -> type[BaseException]:
        with runtime.fail_after(10), pytest.raises(Exception) as info:
            await getaddrinfo(name, 80)
        return info.type

    assert runtime.run(main()) is stdlib.type


def test_connect_to_a_name_that_does_not_resolve_raises_gaierror_not_a_hang() -> None:
    async def main() -> socket.gaierror:
        with runtime.fail_after(10), pytest.raises(socket.gaierror) as info:
            await TcpStream.connect(UNRESOLVABLE, 80)  # type: ignore[arg-type]
        return info.value

    assert runtime.run(main()).errno == socket.EAI_NONAME


def test_a_lookup_under_an_expired_deadline_is_cancelled_not_run() -> None:
    async def main() -> bool:
        with runtime.move_on_after(0) as scope:
            await getaddrinfo("localhost", 80)
            raise AssertionError("the lookup returned under a cancelled scope")
        return scope.cancelled_caught

    assert runtime.run(main())


def test_numeric_lookup_honours_family_and_type_filters() -> None:
    async def main() -> list:
        return await getaddrinfo(None, 0, family=socket.AF_INET6, type=socket.SOCK_DGRAM,
                                 flags=socket.AI_PASSIVE)

    infos = runtime.run(main())
    assert [(i[0], i[1], i[4][0]) for i in infos] == [(socket.AF_INET6, socket.SOCK_DGRAM, "::")]


def test_getnameinfo_numeric_is_answered_in_the_loop() -> None:
    # (trio asks a worker thread even here; its threads outlive the test, so
    # the comparison is with the C library's answer.)
    from runtime.io import getnameinfo

    flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV

    async def main() -> tuple[tuple[str, str], list[str]]:
        return await getnameinfo(("127.0.0.1", 8080), flags), _workers()

    answer, workers = runtime.run(main())
    assert workers == []
    assert answer == socket.getnameinfo(("127.0.0.1", 8080), flags) == ("127.0.0.1", "8080")


def test_getnameinfo_reverse_lookup_runs_off_the_loop() -> None:
    from runtime.io import getnameinfo

    async def main() -> tuple[tuple[str, str], bool]:
        ticks = 0
        done = False

        async def tick() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await runtime.sleep(0)

        runtime.spawn(tick())
        host = await getnameinfo(("127.0.0.1", 22), socket.NI_NUMERICSERV)
        done = True
        return host, ticks > 0

    (host, port), loop_ran = runtime.run(main())
    assert (host, port) == socket.getnameinfo(("127.0.0.1", 22), socket.NI_NUMERICSERV)
    assert loop_ran  # the loop ran while a worker thread asked the resolver
