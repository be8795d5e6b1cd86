"""The chat server under hostile or unlucky clients: each hardening promise, tested."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.helpers.chat_harness import CHAT_SERVER, WELCOME, ChatProcess, Client, clients

pytestmark = pytest.mark.timeout(30)


# -- bad input -----------------------------------------------------------------------


def test_a_line_over_4_kib_gets_an_error_and_the_connection_stays_usable(
        server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send("y" * 5000)
        alice.expect("! line too long: at most 4096 bytes; the rest of it was discarded")
        alice.send("after")
        bob.expect("[lobby] <alice> after")
        bob.expect_nothing()


def test_a_long_line_in_small_pieces_is_discarded_up_to_its_newline(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        for _ in range(20):
            alice.send_raw(b"z" * 1000)
            time.sleep(0.005)
        alice.send_raw(b"tail of the long line\nnext\n")
        alice.expect("! line too long: at most 4096 bytes; the rest of it was discarded")
        bob.expect("[lobby] <alice> next")
        bob.expect_nothing()


def test_a_line_of_exactly_4096_bytes_is_accepted(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send("w" * 4096)
        bob.expect("[lobby] <alice> " + "w" * 4096)


def test_the_4096_byte_limit_counts_neither_the_newline_nor_a_cr_before_it(
        server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send_raw(b"c" * 4096 + b"\r\n")  # a telnet line: accepted, as with \n alone
        for c in (alice, bob):
            c.expect("[lobby] <alice> " + "c" * 4096)
        for ending in (b"\r\n", b"\n"):  # one byte more is one too many, either way
            alice.send_raw(b"d" * 4097 + ending)
            alice.expect("! line too long: at most 4096 bytes; the rest of it was discarded")
        alice.send("after")
        bob.expect("[lobby] <alice> after")
        bob.expect_nothing()


def test_a_bare_slash_is_said_as_typed_not_taken_for_a_command(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send("/ hello")
        alice.send("/")
        for c in (alice, bob):
            c.expect("[lobby] <alice> / hello", "[lobby] <alice> /")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--idle-timeout", "-1", "--idle-timeout must be 0 or more, got -1.0"),
    ("--max-queued", "-5", "--max-queued must be 0 or more, got -5"),
    ("--rate", "nan", "--rate must be 0 or more, got nan"),
    ("--write-timeout", "0", "--write-timeout must be more than 0"),
])
def test_a_bad_limit_is_refused_at_startup_naming_it(option: str, value: str,
                                                      message: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(CHAT_SERVER), "--port", "0", option, value],
        capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_invalid_utf8_is_replaced_not_rejected(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send_raw(b"caf\xe9 \xff\xfe ok \xe2\x82\n")
        bob.expect("[lobby] <alice> caf\ufffd \ufffd\ufffd ok \ufffd")
        alice.send("still fine")
        bob.expect("[lobby] <alice> still fine")


def test_invalid_utf8_in_a_nick_is_an_invalid_nick(server: ChatProcess) -> None:
    with Client(server.port) as c:
        c.expect(WELCOME)
        c.send_raw(b"bo\xffb\n")
        c.expect("! invalid nick 'bo\ufffdb': use 1-32 of A-Z a-z 0-9 _ -")


# -- idle clients and the client limit ----------------------------------------------------


def test_idle_clients_are_disconnected_with_a_reason() -> None:
    with ChatProcess("--idle-timeout", "0.8") as server:
        alice = clients(server.port, ["alice"])[0]
        idler = Client(server.port, "idler")
        last_line = time.perf_counter()  # the idler's nick was its last line
        with alice, idler:
            idler.expect("[lobby] * idler joined")
            # alice keeps talking (every 0.1 s, well inside the limit), idler does not.
            while time.perf_counter() - last_line < 1.5:
                alice.send("tick")
                time.sleep(0.1)
            lines = idler.read_to_eof()
            assert lines[-1] == "! bye: idle for 0.8 s"
            assert lines.count("[lobby] <alice> tick") >= 7  # it was there, not early
            seen = alice.skip_until(lambda s: "idler" in s and "left" in s)
            assert seen[-1] == "[lobby] * idler left (idle for 0.8 s)"
            alice.send("/who")
            alice.skip_until("* in lobby: alice")
        server.stop()


def test_over_max_clients_a_new_connection_hears_server_full() -> None:
    with ChatProcess("--max-clients", "2") as server:
        alice, bob = clients(server.port, ["alice", "bob"])
        with alice:
            with bob, Client(server.port) as third:
                assert third.read_to_eof() == ["! bye: server full"]
            alice.expect("[lobby] * bob left (connection closed)")
            with Client(server.port, "carol") as carol:  # a slot is free again
                carol.expect("[lobby] * carol joined")
        server.stop()


# -- abrupt disconnects ------------------------------------------------------------------


def test_a_reset_connection_is_removed_and_announced(server: ChatProcess) -> None:
    alice, bob, carol = clients(server.port, ["alice", "bob", "carol"])
    with alice, carol:
        bob.reset()
        alice.expect("[lobby] * bob left (connection lost)")
        carol.expect("[lobby] * bob left (connection lost)")
        alice.send("/who")
        alice.expect("* in lobby: alice, carol")


VICTIM = """
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"victim\\nhalf a li")
print("ready", flush=True)
time.sleep(60)
"""


def test_a_client_killed_mid_line_is_removed_and_its_half_line_dropped(
        server: ChatProcess) -> None:
    (alice,) = clients(server.port, ["alice"])
    with alice:
        proc = subprocess.Popen([sys.executable, "-c", VICTIM, str(server.port)],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n"
            alice.expect("[lobby] * victim joined")
            proc.kill()  # SIGKILL: no chance to finish the line or say goodbye
        finally:
            proc.kill()
            proc.communicate(timeout=10)
        # It never read the welcome, so the kernel answers with RST; a client
        # that had read everything would send FIN ("connection closed").
        left = alice.line()
        assert left in ("[lobby] * victim left (connection lost)",
                        "[lobby] * victim left (connection closed)")
        alice.send("/who")
        alice.expect("* in lobby: alice")


# -- out of file descriptors ------------------------------------------------------------


def test_out_of_fds_it_keeps_serving_its_clients_without_spinning() -> None:
    with ChatProcess(fd_limit=40) as server:
        alice, bob = clients(server.port, ["alice", "bob"])
        extra: list[socket.socket] = []
        try:
            # Far more connections than fds: they wait in the listen backlog.
            for _ in range(60):
                extra.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            time.sleep(0.3)
            before = server.cpu_seconds()
            for i in range(10):
                alice.send(f"msg {i}")
                bob.expect(f"[lobby] <alice> msg {i}")
                alice.expect(f"[lobby] <alice> msg {i}")
            time.sleep(1.0)
            used = server.cpu_seconds() - before
            assert used < 0.3, f"the server used {used:.2f} s of CPU in ~1 s: spinning"
        finally:
            for sock in extra:
                sock.close()
        # With fds back, the backlog drains and new clients get in.
        deadline = time.perf_counter() + 10
        while True:
            try:
                with Client(server.port, "carol") as carol:
                    carol.expect("[lobby] * carol joined")
                break
            except (AssertionError, EOFError, OSError):
                if time.perf_counter() > deadline:
                    raise
                time.sleep(0.2)
        alice.close()
        bob.close()
        server.stop()
        assert "Too many open files" in server.stderr  # it did run out, and said so


# -- stopping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_says_goodbye_to_everyone_and_exits_zero_quickly(signum: int) -> None:
    with ChatProcess() as server:
        people = clients(server.port, ["alice", "bob", "carol"])
        unnamed = Client(server.port)
        unnamed.expect(WELCOME)
        try:
            took = server.stop(signum)
            for c in people:
                assert c.read_to_eof() == ["! bye: server shutting down"]
            assert unnamed.read_to_eof() == ["! bye: server shutting down"]
        finally:
            for c in [*people, unnamed]:
                c.close()
        assert took < 2.0
        assert server.stdout.endswith("chat server stopped\n")


def test_a_client_that_stopped_reading_does_not_hold_up_the_shutdown() -> None:
    # Limits too big to reach: the stuck client is never "too slow", its
    # writer just waits on a full socket buffer when the signal comes.
    with ChatProcess("--max-queued", "1000000000", "--rate", "0") as server:
        talker = clients(server.port, ["talker"])[0]
        stuck = Client(server.port, "stuck", rcvbuf=4096)
        with talker, stuck:
            talker.expect("[lobby] * stuck joined")
            big = "s" * 4000
            for i in range(1500):  # ~6 MB: more than the socket buffers hold
                talker.send(f"{i} {big}")
                talker.expect(f"[lobby] <talker> {i} {big}")
            took = server.stop(signal.SIGTERM)
            assert talker.read_to_eof() == ["! bye: server shutting down"]
        # It waited for the stuck writer (SHUTDOWN_LINGER, 1 s), not forever.
        assert 0.9 < took < 2.0, f"the server took {took:.2f} s to exit"


def test_a_client_already_lingering_when_the_shutdown_comes_holds_it_up_one_second_at_most(
) -> None:
    # Cut off as too slow (its own replies pile up past --max-queued once it
    # has stalled), the client is given LINGER (5 s) to take its queue and
    # bye line; it never reads. A shutdown then must not wait out those
    # 5 s: SHUTDOWN_LINGER (1 s) is all anyone gets once it begins.
    with ChatProcess("--max-queued", "65536", "--rate", "0") as server:
        stuck = Client(server.port, rcvbuf=1024)
        with stuck:
            stuck.sock.setblocking(False)
            try:  # a nick, then commands whose replies it never reads
                stuck.sock.sendall(b"stuck\n" + b"/help\n" * 20000)
            except BlockingIOError:
                pass
            time.sleep(1.6)  # stalled after 1 s (outbox.STALL), cut off, now lingering
            took = server.stop(signal.SIGTERM)
        assert took < 2.0, f"the server took {took:.2f} s to exit"


def test_sigterm_works_even_when_started_with_sigint_ignored() -> None:
    # SIGTERM is mapped onto the SIGINT path; a shell's background job starts
    # with SIGINT ignored, which would make both signals do nothing.
    with ChatProcess(sigint_ignored=True) as server:
        (alice,) = clients(server.port, ["alice"])
        with alice:
            took = server.stop(signal.SIGTERM, timeout=5)
            assert alice.read_to_eof() == ["! bye: server shutting down"]
        assert took < 2.0
