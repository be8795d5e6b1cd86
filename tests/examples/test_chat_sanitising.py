"""Control characters are made visible before they are relayed: one test per class."""

from __future__ import annotations

import pytest

from tests.helpers.chat_harness import ChatProcess, clients

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(("sent", "shown"), [
    pytest.param(b"a\x00b", "a^@b", id="NUL"),
    pytest.param(b"\x1b[2Jcleared?", "^[[2Jcleared?", id="ESC-sequence"),
    pytest.param(b"ding\x07", "ding^G", id="BEL"),
    pytest.param(b"over\rwritten", "over^Mwritten", id="lone-CR"),
    pytest.param(b"back\x08space\x0bvt\x0cff\x1fus", "back^Hspace^Kvt^Lff^_us", id="other-C0"),
    pytest.param(b"del\x7f", "del^?", id="DEL"),
    pytest.param("csi\u009b2J nel\u0085".encode(), "csi<U+009B>2J nel<U+0085>", id="C1"),
    pytest.param("abc\u202edcba \u202aembed\u202c".encode(),
                 "abc<U+202E>dcba <U+202A>embed<U+202C>", id="bidi-embedding-override"),
    pytest.param("\u2066isolate\u2069 \u2067r\u2068".encode(),
                 "<U+2066>isolate<U+2069> <U+2067>r<U+2068>", id="bidi-isolate"),
    pytest.param(b"tab\there", "tab\there", id="TAB-kept"),
    pytest.param("caf\u00e9 \u05e9\u05dc\u05d5\u05dd \U0001f600".encode(),
                 "caf\u00e9 \u05e9\u05dc\u05d5\u05dd \U0001f600", id="printable-unicode-kept"),
])
def test_a_control_character_said_by_one_client_arrives_escaped_at_another(
        server: ChatProcess, sent: bytes, shown: str) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send_raw(sent + b"\n")
        bob.expect(f"[lobby] <alice> {shown}")
        alice.send_raw(b"/me " + sent + b"\n")
        bob.expect(f"[lobby] * alice {shown}")
        alice.send_raw(b"/msg bob " + sent + b"\n")
        bob.expect(f"[pm] <alice> {shown}")


def test_a_control_character_in_a_nick_is_refused_and_shown_escaped(server: ChatProcess) -> None:
    alice, bob = clients(server.port, ["alice", "bob"])
    with alice, bob:
        alice.send_raw(b"/nick ev\x1b[2Jil\n")
        alice.expect("! invalid nick 'ev^[[2Jil': use 1-32 of A-Z a-z 0-9 _ -")
        alice.send_raw(b"/join r\xe2\x80\xaeoom\n")
        alice.expect("! invalid room name 'r<U+202E>oom': use 1-32 of A-Z a-z 0-9 _ -")
        bob.expect_nothing()
