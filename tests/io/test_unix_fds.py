"""`UnixStream.send_fds`/`receive_fds`: file descriptors over a Unix socket
(SCM_RIGHTS), checked against trio's ``sendmsg``/``recvmsg`` doing the same."""

from __future__ import annotations

import array
import os
import socket
from pathlib import Path

import pytest
import trio

import runtime
from runtime.io import UnixStream
from tests.helpers.platform_gaps import ON_WINDOWS

pytestmark = pytest.mark.skipif(ON_WINDOWS, reason="SCM_RIGHTS is a Unix feature")


def _pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def _read_through(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 100)


def test_descriptors_sent_arrive_as_new_fds_of_the_same_files(tmp_path: Path) -> None:
    files = [tmp_path / "a", tmp_path / "b"]
    for i, f in enumerate(files):
        f.write_bytes(b"file %d" % i)

    async def main() -> tuple[bytes, list[bytes], bool]:
        a, b = _pair()
        async with UnixStream(a) as sender, UnixStream(b) as receiver:
            with open(files[0], "rb") as f0, open(files[1], "rb") as f1:
                await sender.send_fds(b"two files", [f0, f1.fileno()])
                data, fds = await receiver.receive_fds(100, 4)
                fresh = not {f0.fileno(), f1.fileno()} & set(fds)
            try:
                return data, [_read_through(fd) for fd in fds], fresh
            finally:
                for fd in fds:
                    os.close(fd)

    assert runtime.run(main()) == (b"two files", [b"file 0", b"file 1"], True)


def test_more_descriptors_than_maxfds_is_an_error_and_none_leak(tmp_path: Path) -> None:
    # The no_leaks fixture checks the one that arrived was closed.
    async def main() -> None:
        a, b = _pair()
        async with UnixStream(a) as sender, UnixStream(b) as receiver:
            r, w = os.pipe()
            try:
                await sender.send_fds(b"x", [r, w])
            finally:
                os.close(r)
                os.close(w)
            with pytest.raises(OSError, match=r"more than maxfds=1 file descriptors") as info:
                await receiver.receive_fds(10, 1)
            assert info.value.errno == __import__("errno").EMSGSIZE

    runtime.run(main())


def test_receive_fds_gives_empty_at_eof_and_plain_bytes_without_fds() -> None:
    async def main() -> list[tuple[bytes, list[int]]]:
        a, b = _pair()
        async with UnixStream(a) as sender, UnixStream(b) as receiver:
            await sender.write_all(b"plain")
            first = await receiver.receive_fds(100, 2)
            sender.close()
            return [first, await receiver.receive_fds(100, 2)]

    assert runtime.run(main()) == [(b"plain", []), (b"", [])]


def test_a_long_message_sends_its_descriptors_once_with_the_first_bytes() -> None:
    message = bytes(range(256)) * 4096  # 1 MiB: many sendmsg calls

    async def main() -> tuple[int, int]:
        a, b = _pair()
        async with UnixStream(a) as sender, UnixStream(b) as receiver:
            got = bytearray()
            fds: list[int] = []
            async with runtime.TaskGroup() as tg:
                r, w = os.pipe()
                try:
                    tg.spawn(sender.send_fds(message, [r]))
                    while len(got) < len(message):
                        chunk, more = await receiver.receive_fds(65536, 4)
                        got += chunk
                        fds += more
                finally:
                    os.close(r)
                    os.close(w)
            for fd in fds:
                os.close(fd)
            return len(fds), int(got == message)

    assert runtime.run(main()) == (1, 1)


@pytest.mark.parametrize(("msglen", "maxfds", "words"), [
    (-1, 1, "msglen"), (10, 0, "maxfds"), (10, "2", "maxfds")])
def test_bad_counts_are_refused_naming_the_argument(msglen: int, maxfds: int, words: str) -> None:
    async def main() -> None:
        a, b = _pair()
        async with UnixStream(a), UnixStream(b) as receiver:
            with pytest.raises(ValueError, match=words):
                await receiver.receive_fds(msglen, maxfds)

    runtime.run(main())


@pytest.mark.parametrize(("message", "fds", "words"), [
    (b"", [0], "message must not be empty"), (b"x", [], "fds must not be empty")])
def test_send_fds_refuses_an_empty_message_or_fd_list(message: bytes, fds: list[int],
                                                      words: str) -> None:
    async def main() -> None:
        a, b = _pair()
        async with UnixStream(a) as sender, UnixStream(b):
            with pytest.raises(ValueError, match=words):
                await sender.send_fds(message, fds)

    runtime.run(main())


def _trio_round_trip() -> tuple[bytes, int]:
    async def main() -> tuple[bytes, int]:
        a, b = _pair()
        with trio.socket.from_stdlib_socket(a) as ta, trio.socket.from_stdlib_socket(b) as tb:
            r, w = os.pipe()
            try:
                await ta.sendmsg([b"one"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                             array.array("i", [r]))])
            finally:
                os.close(r)
            data, anc, _, _ = await tb.recvmsg(100, socket.CMSG_SPACE(4 * 4))
            fds = array.array("i")
            fds.frombytes(anc[0][2])
            os.write(w, b"!")
            os.close(w)
            got = os.read(fds[0], 1)
            os.close(fds[0])
            return data, len(got)

    return trio.run(main)


def _runtime_round_trip() -> tuple[bytes, int]:
    async def main() -> tuple[bytes, int]:
        a, b = _pair()
        async with UnixStream(a) as sender, UnixStream(b) as receiver:
            r, w = os.pipe()
            try:
                await sender.send_fds(b"one", [r])
            finally:
                os.close(r)
            data, fds = await receiver.receive_fds(100, 4)
            os.write(w, b"!")
            os.close(w)
            got = os.read(fds[0], 1)
            os.close(fds[0])
            return data, len(got)

    return runtime.run(main())  # type: ignore[no-any-return]


def test_a_passed_pipe_end_reads_what_the_other_end_wrote_as_under_trio() -> None:
    assert _runtime_round_trip() == _trio_round_trip() == (b"one", 1)
