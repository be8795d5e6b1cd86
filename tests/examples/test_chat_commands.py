"""The chat server's commands and their error paths, over real sockets to a real process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers.chat_harness import WELCOME, ChatProcess, Client, clients

pytestmark = pytest.mark.timeout(30)


def test_prints_how_to_connect_first(server: ChatProcess) -> None:
    port = server.port
    listening, connect, browser = server.banner
    nc, client = connect.split("   or   ")
    python, client_args = client.split(" ", 1)
    assert listening == f"chat server listening on 127.0.0.1:{port}"
    assert nc == f"connect with: nc 127.0.0.1 {port}"
    assert client_args == f"examples/chat_client.py --host 127.0.0.1 --port {port}"
    # The server's own interpreter (.venv/bin/python from the repository), not a bare `python`.
    assert Path(python).resolve() == Path(sys.executable).resolve() and python != "python"
    assert browser == f"in a browser: http://127.0.0.1:{server.http_port}/"


def test_asks_for_a_nick_then_joins_the_lobby(server: ChatProcess) -> None:
    with Client(server.port) as c:
        c.expect(WELCOME)
        c.send("alice")
        c.expect("* you are alice; /help lists the commands", "[lobby] * alice joined")


def test_the_first_line_may_also_be_a_nick_command(server: ChatProcess) -> None:
    with Client(server.port) as c:
        c.expect(WELCOME)
        c.send("/nick bob")
        c.expect("* you are bob; /help lists the commands", "[lobby] * bob joined")


@pytest.mark.parametrize(("nick", "error"), [
    ("", "! nick must not be empty"),
    ("a" * 33, "! nick too long: at most 32 characters"),
    ("bad!nick", "! invalid nick 'bad!nick': use 1-32 of A-Z a-z 0-9 _ -"),
    ("two words", "! invalid nick 'two words': use 1-32 of A-Z a-z 0-9 _ -"),
    ("émile", "! invalid nick 'émile': use 1-32 of A-Z a-z 0-9 _ -"),
])
def test_an_invalid_nick_gets_an_error_and_another_try(server: ChatProcess, nick: str,
                                                       error: str) -> None:
    with Client(server.port) as c:
        c.expect(WELCOME)
        c.send(nick)
        c.expect(error)
        c.send("a" * 32)  # the longest valid nick
        c.expect(f"* you are {'a' * 32}; /help lists the commands")


def test_a_taken_nick_is_refused_case_insensitively(server: ChatProcess) -> None:
    (alice,) = clients(server.port, ["alice"])
    with alice, Client(server.port) as c:
        c.expect(WELCOME)
        c.send("ALICE")
        c.expect("! nick ALICE is taken; choose another")
        c.send("alice2")
        c.expect("* you are alice2; /help lists the commands", "[lobby] * alice2 joined")
        alice.expect("[lobby] * alice2 joined")


def test_commands_before_a_nick(server: ChatProcess) -> None:
    with Client(server.port) as c:
        c.expect(WELCOME)
        c.send("/join dev")
        c.expect("! choose a nick first (just type it, or /nick NAME)")
        c.send("/help")
        assert c.line() == "* commands:"
        assert c.skip_until("* anything else is said in your room")
        c.send("/quit")
        assert c.read_to_eof() == ["! bye: quit"]


def test_plain_lines_go_to_everyone_in_the_room_sender_included(server: ChatProcess) -> None:
    alice, bob, carol = clients(server.port, ["alice", "bob", "carol"])
    with alice, bob, carol:
        bob.send("hello, all")
        for c in (alice, bob, carol):
            c.expect("[lobby] <bob> hello, all")


def test_empty_lines_are_ignored_and_a_double_slash_escapes(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send("")
        alice.send("//etc/passwd is a path")
        bob.expect("[lobby] <alice> /etc/passwd is a path")


def test_crlf_line_endings_are_accepted(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send_raw(b"from telnet\r\n")
        bob.expect("[lobby] <alice> from telnet")


def test_nick_change_is_announced_and_frees_the_old_nick(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send("/nick ally")
        alice.expect("[lobby] * alice is now known as ally")
        bob.expect("[lobby] * alice is now known as ally")
        with Client(server.port, "alice") as again:
            again.expect("[lobby] * alice joined")
            bob.send("/msg ally hi")
            alice.expect("[lobby] * alice joined", "[pm] <bob> hi")


def test_nick_command_errors(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send("/nick Bob")
        alice.expect("! nick Bob is taken; choose another")
        alice.send("/nick no way")
        alice.expect("! invalid nick 'no way': use 1-32 of A-Z a-z 0-9 _ -")
        alice.send("/nick")
        alice.expect("! nick must not be empty")
        alice.send("/nick Alice")  # your own nick in another case: allowed
        alice.expect("[lobby] * alice is now known as Alice")
        bob.expect("[lobby] * alice is now known as Alice")


def test_join_moves_between_rooms_and_both_are_told(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send("/join dev")
        alice.expect("[dev] * alice joined")
        bob.expect("[lobby] * alice left (moved to dev)")
        bob.send("/join #dev")  # a leading '#' is accepted
        alice.expect("[dev] * bob joined")
        bob.expect("[dev] * bob joined")


def test_join_errors(server: ChatProcess) -> None:
    (alice,) = clients(server.port, ["alice"])
    with alice:
        alice.send("/join")
        alice.expect("! room name must not be empty")
        alice.send("/join no spaces")
        alice.expect("! invalid room name 'no spaces': use 1-32 of A-Z a-z 0-9 _ -")
        alice.send("/join " + "r" * 33)
        alice.expect("! room name too long: at most 32 characters")
        alice.send("/join LOBBY")
        alice.expect("! you are already in lobby")


def test_two_rooms_are_isolated(server: ChatProcess) -> None:
    a1, a2, b1, b2 = clients(server.port, ["a1", "a2", "b1", "b2"])
    with a1, a2, b1, b2:
        for c in (a1, a2):
            c.send("/join alpha")
        a1.skip_until("[alpha] * a2 joined")
        a2.skip_until("[alpha] * a2 joined")
        for c in (b1, b2):
            c.send("/join beta")
        b1.skip_until("[beta] * b2 joined")
        b2.skip_until("[beta] * b2 joined")
        a1.send("in alpha")
        b1.send("in beta")
        a1.expect("[alpha] <a1> in alpha")
        a2.expect("[alpha] <a1> in alpha")
        b1.expect("[beta] <b1> in beta")
        b2.expect("[beta] <b1> in beta")
        for c in (a1, a2, b1, b2):
            c.expect_nothing()


def test_rooms_lists_each_room_with_its_count(server: ChatProcess) -> None:
    alice, bob, carol = clients(server.port, ["alice", "bob", "carol"])
    with alice, bob, carol:
        bob.send("/join dev")
        bob.expect("[dev] * bob joined")
        carol.send("/join Zoo")
        carol.skip_until("[Zoo] * carol joined")
        alice.send("/rooms")
        alice.skip_until("* rooms: dev (1), lobby (1), Zoo (1)")
        bob.send("/join lobby")  # dev is now empty and goes away; the lobby stays
        bob.expect("[lobby] * bob joined")
        carol.send("/join lobby")
        carol.skip_until("[lobby] * carol joined")
        carol.send("/rooms")
        carol.expect("* rooms: lobby (3)")


def test_who_lists_the_room(server: ChatProcess) -> None:
    bob, alice, carol = clients(server.port, ["bob", "alice", "carol"])
    with alice, bob, carol:
        carol.send("/join dev")
        carol.expect("[dev] * carol joined")
        alice.send("/who")
        alice.skip_until("* in lobby: alice, bob")


def test_private_messages_reach_only_their_target(server: ChatProcess) -> None:
    alice, bob, carol = clients(server.port, ["alice", "bob", "carol"])
    with alice, bob, carol:
        carol.send("/join elsewhere")  # rooms do not matter for /msg
        carol.expect("[elsewhere] * carol joined")
        alice.skip_until("[lobby] * carol left (moved to elsewhere)")
        bob.skip_until("[lobby] * carol left (moved to elsewhere)")
        alice.send("/msg CAROL  meet me  in dev ")
        carol.expect("[pm] <alice> meet me  in dev")
        alice.expect("[pm to carol] meet me  in dev")
        bob.expect_nothing()


def test_private_message_errors(server: ChatProcess) -> None:
    (alice,) = clients(server.port, ["alice"])
    with alice:
        alice.send("/msg nobody hello")
        alice.expect("! no such nick: nobody")
        alice.send("/msg alice")
        alice.expect("! usage: /msg NICK TEXT")
        alice.send("/msg")
        alice.expect("! usage: /msg NICK TEXT")


def test_me_is_an_action_in_the_room(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send("/me waves")
        alice.expect("[lobby] * alice waves")
        bob.expect("[lobby] * alice waves")
        alice.send("/me")
        alice.expect("! usage: /me ACTION")


def test_help_lists_every_command(server: ChatProcess) -> None:
    (alice,) = clients(server.port, ["alice"])
    with alice:
        alice.send("/HELP")  # commands are case-insensitive
        lines = alice.skip_until("* anything else is said in your room")
        text = "\n".join(lines)
        for command in ("/nick", "/join", "/rooms", "/who", "/msg", "/me", "/help", "/quit"):
            assert command in text


def test_unknown_commands_get_an_error(server: ChatProcess) -> None:
    (alice,) = clients(server.port, ["alice"])
    with alice:
        alice.send("/frobnicate now")
        alice.expect("! unknown command /frobnicate; try /help")


def test_quit_says_bye_closes_and_is_announced(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        bob.send("/quit")
        assert bob.read_to_eof() == ["! bye: quit"]
        alice.expect("[lobby] * bob left (quit)")
        alice.send("/who")
        alice.expect("* in lobby: alice")


def test_a_client_that_closes_is_removed_and_announced(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice:
        bob.close()
        alice.expect("[lobby] * bob left (connection closed)")
        with Client(server.port, "bob") as again:  # the nick is free again
            again.expect("[lobby] * bob joined")
