"""The README teaches what is true: its set-up line, commands, programs and
transcript are checked against the build, `.ci/run` and the running code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.chat_harness import ChatProcess, Client

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
SETUP_PY = (ROOT / "setup.py").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    """The text of each fenced block whose fence names ``language`` ("" for none)."""
    blocks: list[str] = []
    fence: str | None = None
    lines: list[str] = []
    for line in README.splitlines(keepends=True):
        if not line.startswith("```"):
            lines.append(line)
        elif fence is None:
            fence, lines = line[3:].strip(), []
        else:
            if fence == language:
                blocks.append("".join(lines))
            fence = None
    return blocks


def _sh_lines() -> list[str]:
    """The shell commands the README gives, without their comments."""
    lines = (line.split("#", 1)[0].strip() for block in _blocks("sh")
             for line in block.splitlines())
    return [line for line in lines if line]


def _installed_by(manager: str) -> list[str]:
    """The packages the set-up line installs with ``<manager> install``."""
    lines = [line for line in _sh_lines() if line.startswith(f"{manager} install ")]
    assert len(lines) == 1, f"the set-up line should have one `{manager} install`: {lines}"
    return lines[0].split()[2:]


def test_the_readme_stays_under_200_lines() -> None:
    assert README.count("\n") < 200


@pytest.mark.timeout(60)
@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_each_python_block_prints_what_its_comments_say(index: int) -> None:
    """Every block is a whole program; ``print(...)  # x`` says it prints x."""
    program = _blocks("python")[index]
    expected = re.findall(r"print\(.*\)\s+# (.*)$", program, re.M)
    assert expected, f"block {index} shows no output to check:\n{program}"
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                            text=True, timeout=50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected


def test_the_set_up_line_installs_what_ci_makes_sure_of_on_debian() -> None:
    debs = re.search(r"^part_build_debs\(\).*\n\s*ensure_debs (.*)$", CI_RUN, re.M)
    assert debs, ".ci/run has no build_debs part installing the build's packages"
    assert _installed_by("apt-get") == debs.group(1).split()


def test_the_build_names_the_set_up_lines_header_packages() -> None:
    """setup.py's one line for missing headers names the README's packages."""
    debian = [p for p in _installed_by("apt-get") if p.startswith("python3-")]
    fedora = [p for p in _installed_by("dnf") if p.startswith("python3-")]
    assert "python3-dev" in debian and fedora == ["python3-devel"]
    assert "Debian/Ubuntu: python3-dev," in SETUP_PY
    assert "Fedora: python3-devel)" in SETUP_PY
    assert "xcode-select --install" in _sh_lines()


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="no apt-cache: not Debian")
def test_the_debian_packages_named_exist() -> None:
    packages = _installed_by("apt-get")
    result = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages],
                            capture_output=True, text=True, timeout=30)
    known = set(re.findall(r"^Package: (\S+)$", result.stdout, re.M))
    if not known:
        pytest.skip(f"apt-cache knows no packages here: {result.stderr.strip()}")
    assert set(packages) <= known, f"Debian has no package {sorted(set(packages) - known)}"


def test_the_two_commands_are_the_ones_ci_uses() -> None:
    chat, whole_suite = (line for line in _sh_lines()
                         if not line.startswith(("apt-get ", "dnf ", "xcode-select ")))
    make_venv, install, serve = chat.split(" && ")
    assert make_venv == "python3 -m venv .venv" and make_venv in CI_RUN
    assert install == ".venv/bin/pip install -q '.[chat]'"  # the browser face's h11, wsproto
    assert ".venv/bin/pip install -q -e '.[dev]'" in CI_RUN
    assert serve == ".venv/bin/python examples/chat_server.py"
    assert (ROOT / serve.split()[1]).is_file()
    assert whole_suite == "bash .ci/run"


def test_every_command_uses_the_venvs_interpreter() -> None:
    """No bare ``python``/``pip``: Debian has no ``python``, and a system
    ``pip`` installs outside the venv. ``python3 -m venv`` makes the venv."""
    bare = [m.group(0) for m in re.finditer(r"(?<![\w/.-])(?:python3?|pip3?) +\S+ *\S*", README)
            if not m.group(0).startswith("python3 -m venv")]
    assert not bare, f"commands not run by .venv/bin/python: {bare}"


@pytest.mark.timeout(30)
def test_the_transcript_replays_against_the_chat_server() -> None:
    """Each ``name> text`` is sent by that client; each ``name< text`` arrives
    (lines the transcript leaves out, like bob's welcome, are skipped)."""
    block = next(b for b in _blocks("") if "alice< * welcome" in b)
    steps = [re.match(r"(\w+)([<>]) (.*)$", line) for line in block.splitlines()]
    assert steps and all(steps), block
    with ChatProcess() as server:
        clients: dict[str, Client] = {}
        try:
            for step in steps:
                assert step is not None
                name, direction, text = step.groups()
                if name not in clients:
                    clients[name] = Client(server.port)
                    clients[name].nick = name
                if direction == ">":
                    clients[name].send(text)
                else:
                    clients[name].skip_until(text, limit=20)
        finally:
            for client in clients.values():
                client.close()
        server.stop()
