"""The chat server's defaults are what the README says they are, and ``--help`` shows them."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers.chat_harness import CHAT_SERVER, ROOT

#: Options whose defaults the README must state (as `--option VALUE`).
CLAIMED = {"--rate", "--burst", "--write-timeout", "--max-queued", "--idle-timeout",
           "--max-clients"}


def parser_defaults() -> dict[str, str]:
    """Each option's default as ``--help`` prints it (argparse's defaults formatter)."""
    out = subprocess.run([sys.executable, str(CHAT_SERVER), "--help"], capture_output=True,
                         text=True, timeout=20, check=True).stdout
    text = " ".join(out.split())  # undo the wrapping
    options = re.findall(r"(--[a-z-]+)(?: [A-Z]+)? .*?\(default: ([^)]*)\)", text)
    return dict(options)


def readme_claims() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    return dict(re.findall(r"`(--[a-z-]+) ([0-9.]+)`", readme))


def test_help_shows_a_default_for_every_option() -> None:
    out = subprocess.run([sys.executable, str(CHAT_SERVER), "--help"], capture_output=True,
                         text=True, timeout=20, check=True).stdout
    options = set(re.findall(r"^  (--[a-z-]+)", out, re.M))
    assert options >= CLAIMED | {"--host", "--port"}
    assert set(parser_defaults()) == options


def test_the_readme_states_the_defaults_the_parser_has() -> None:
    claims = readme_claims()
    assert set(claims) >= CLAIMED, f"the README does not state {CLAIMED - set(claims)}"
    defaults = parser_defaults()
    for option, claimed in claims.items():
        assert float(defaults[option]) == float(claimed), (option, defaults[option], claimed)


def test_idle_clients_time_out_by_default() -> None:
    assert float(parser_defaults()["--idle-timeout"]) > 0
