#!/usr/bin/env bash
# Install libkqueue (kqueue(2) emulated on Linux over epoll) so the kqueue
# reactor backend can be built and tested on Linux: Debian experimental's
# libkqueue0t64 + libkqueue-dev 2.3.1 (about 50 KB, needing only libc >= 2.34).
#
# The system's apt sources are never touched: apt reads a private source list
# (one .sources file for suite "experimental") and keeps its lists and cache in
# a private directory; we only `apt-get download` the two .debs and `dpkg -i`
# them. A no-op when the headers are already installed. Needs root (dpkg -i),
# or passwordless sudo. Exit status 77: cannot install here (not Debian, or
# neither root nor sudo), said in one line; the caller decides what that means.
set -euo pipefail

HEADER=/usr/include/kqueue/sys/event.h
PACKAGES=(libkqueue0t64 libkqueue-dev)

if [[ -f "$HEADER" ]]; then
    echo "install-libkqueue: $HEADER present, nothing to do"
    exit 0
fi
if [[ "$(uname -s)" != Linux ]] || ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
    echo "install-libkqueue: no Debian apt-get and dpkg here, so libkqueue cannot be installed" >&2
    exit 77
fi

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo > /dev/null || ! sudo -n true 2> /dev/null; then
        echo "install-libkqueue: not root and no passwordless sudo, so libkqueue cannot be installed" >&2
        exit 77
    fi
    SUDO=(sudo -n)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"

cat > "$work/sources/experimental.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: experimental
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

apt_private=(
    -o Dir::Etc::SourceList=/dev/null
    -o "Dir::Etc::SourceParts=$work/sources"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache"
    -o Dir::Etc::Preferences=/dev/null
    -o "Dir::Etc::PreferencesParts=$work/sources"
    -o APT::Sandbox::User=root
    # experimental's Release file expires a week after it is signed and the mirror
    # does not always refresh it in time ("is expired (invalid since 30d ...)"
    # on 2026-12-07): the signature is still checked, only its freshness is not.
    -o Acquire::Check-Valid-Until=false
)

echo "install-libkqueue: reading Debian experimental's package list (private apt lists)"
apt-get -q "${apt_private[@]}" update
(cd "$work/debs" && apt-get -q "${apt_private[@]}" download "${PACKAGES[@]}")
"${SUDO[@]}" dpkg -i "$work"/debs/*.deb

if [[ ! -f "$HEADER" ]]; then
    echo "install-libkqueue: installed, but $HEADER is missing" >&2
    exit 1
fi
echo "install-libkqueue: installed $(dpkg-query -W -f='${Package} ${Version}  ' "${PACKAGES[@]}")"
