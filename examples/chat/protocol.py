"""The chat protocol: what a client may send and every line the server writes.

The wire format is lines of UTF-8 text ending in ``\\n`` (a ``\\r`` before it
is dropped, so ``telnet`` works too). Everything the server says is built
here, so the format lives in one place.

Client → server
---------------
* Before a nick is chosen, the first line is the nick (``NAME`` or
  ``/nick NAME``); ``/help`` and ``/quit`` work too.
* Then: ``/nick NAME``, ``/join ROOM``, ``/rooms``, ``/who``,
  ``/msg NICK TEXT``, ``/me ACTION``, ``/help``, ``/quit``; any other line
  is said in the current room. ``//text`` says ``/text`` literally.

Server → client (every line starts with a marker saying what it is)
--------------------------------------------------------------------
* ``[room] <nick> text``         someone (you too) said something in a room
* ``[room] * nick action``       ``/me``
* ``[room] * nick joined`` / ``[room] * nick left (reason)`` /
  ``[room] * old is now known as new``
* ``[pm] <nick> text``           a private message to you;
  ``[pm to nick] text`` confirms yours
* ``* text``                     the server telling you something
* ``! text``                     an error; the connection stays open
* ``! bye: reason``              the last line before the server hangs up

Names
-----
Nicks and room names are 1-32 characters from ``A-Z a-z 0-9 _ -`` (ASCII,
so every terminal shows them the same way). Nicks are unique, compared
case-insensitively (``Alice`` and ``alice`` are the same nick); room names
too. A leading ``#`` on a room name is accepted and dropped.

Limits and bad input
--------------------
* A line is at most `MAX_LINE` (4096) bytes, not counting the newline (nor
  a ``\r`` before it). A longer one gets ``! line too long ...``; the rest
  of it is discarded and the connection stays usable.
* Invalid UTF-8 is **replaced**, never rejected: each bad byte becomes
  U+FFFD (the replacement character), as ``bytes.decode(errors="replace")``
  does, and the line is handled as usual.
* **Control characters are made visible** before anything is relayed, so
  no client can drive another's terminal (clear its screen, ring its bell,
  move its cursor, or reverse the text that follows with a bidi override).
  C0 controls other than TAB, and DEL, become caret notation as ``cat -v``
  shows them (NUL ``^@``, BEL ``^G``, ESC ``^[``, a lone CR ``^M``, DEL
  ``^?``); C1 controls (U+0080-U+009F) and the bidi embedding, override and
  isolate characters (U+202A-U+202E, U+2066-U+2069) become ``<U+XXXX>``.
  Nicks and room names never contain them: their alphabet is stricter.
"""

from __future__ import annotations

import re

MAX_LINE = 4096
MAX_NAME = 32
DEFAULT_ROOM = "lobby"
NAME_CHARS = "A-Z a-z 0-9 _ -"
_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NAME}}}")

HELP = (
    "commands:",
    "  /nick NAME      change your nick (1-32 chars: A-Z a-z 0-9 _ -)",
    "  /join ROOM      leave your room and join ROOM (created on demand)",
    "  /rooms          list the rooms and how many are in each",
    "  /who            list who is in your room",
    "  /msg NICK TEXT  send TEXT to NICK only",
    "  /me ACTION      say '* you ACTION' in your room",
    "  /help           this text",
    "  /quit           disconnect",
    "anything else is said in your room",
)


def valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def name_error(what: str, name: str) -> str:
    if not name:
        return f"! {what} must not be empty"
    if len(name) > MAX_NAME:
        return f"! {what} too long: at most {MAX_NAME} characters"
    return f"! invalid {what} {name!r}: use 1-{MAX_NAME} of {NAME_CHARS}"


def too_long(raw: bytes) -> bool:
    """Is this received line over `MAX_LINE`, its newline (and a CR before it) not counted?"""
    end = len(raw) - raw.endswith(b"\n")
    if raw[:end].endswith(b"\r"):
        end -= 1
    return end > MAX_LINE


def _visible(code: int) -> str:
    if code < 0x20 or code == 0x7F:
        return "^" + chr(code ^ 0x40)  # caret notation: 0x1B -> ^[, 0x7F -> ^?
    return f"<U+{code:04X}>"


_BIDI_CONTROLS = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
#: str.translate table: every character a terminal would act on, made visible.
_ESCAPES = {code: _visible(code)
            for code in [*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI_CONTROLS]
            if code != 0x09}  # TAB is harmless and people paste it


def sanitise(text: str) -> str:
    """``text`` with its control characters made visible (see the module docstring)."""
    # isprintable() is one C loop, and true for almost every chat line; the
    # characters we escape are all non-printable, so it is a safe fast path.
    return text if text.isprintable() else text.translate(_ESCAPES)


def decode(raw: bytes) -> str:
    """One received line as text: newline (and CR) stripped, bad UTF-8 replaced,
    control characters made visible."""
    return sanitise(raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", errors="replace"))


def parse(line: str) -> tuple[str, str]:
    """``(command, argument)``; command ``""`` for a plain line to say.

    ``"/msg bob hi"`` → ``("msg", "bob hi")``; ``"hello"`` → ``("", "hello")``;
    ``"//etc"`` → ``("", "/etc")``; ``"/ hi"`` → ``("", "/ hi")``.
    """
    if line.startswith("/") and not line.startswith("//"):
        command, _, arg = line[1:].partition(" ")
        if command:
            return command.lower(), arg.strip()
        return "", line  # a bare "/" names no command: the line is said as typed
    if line.startswith("//"):
        line = line[1:]
    return "", line


# -- lines the server writes (each returns bytes ready for the wire) ------------


def encode(text: str) -> bytes:
    return (text + "\n").encode("utf-8", errors="replace")


def said(room: str, nick: str, text: str) -> bytes:
    return encode(f"[{room}] <{nick}> {text}")


def action(room: str, nick: str, text: str) -> bytes:
    return encode(f"[{room}] * {nick} {text}")


def joined(room: str, nick: str) -> bytes:
    return encode(f"[{room}] * {nick} joined")


def left(room: str, nick: str, reason: str) -> bytes:
    return encode(f"[{room}] * {nick} left ({reason})")


def renamed(room: str, old: str, new: str) -> bytes:
    return encode(f"[{room}] * {old} is now known as {new}")


def private(sender: str, text: str) -> bytes:
    return encode(f"[pm] <{sender}> {text}")


def private_sent(target: str, text: str) -> bytes:
    return encode(f"[pm to {target}] {text}")


def notice(text: str) -> bytes:
    return encode(f"* {text}")


def error(text: str) -> bytes:
    return encode(f"! {text}")


def bye(reason: str) -> bytes:
    return encode(f"! bye: {reason}")


# Reasons a connection ends (shown in "! bye: ..." and in "left (...)").
QUIT = "quit"
SERVER_FULL = "server full"
SHUTTING_DOWN = "server shutting down"
CONNECTION_LOST = "connection lost"
CONNECTION_CLOSED = "connection closed"


def idle(seconds: float) -> str:
    return f"idle for {seconds:g} s"


def no_progress(seconds: float) -> str:
    return f"too slow: nothing could be sent for {seconds:g} s"


def too_much_unsent(limit: int) -> str:
    return f"too slow: over {limit} bytes unsent"


WELCOME = notice("welcome to runtime chat; what is your nick? (1-32 of A-Z a-z 0-9 _ -)")
LINE_TOO_LONG = error(f"line too long: at most {MAX_LINE} bytes; the rest of it was discarded")
