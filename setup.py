# setuptools reads `cffi_modules` only from setup(); everything else is in pyproject.toml.
import os
import sys
import sysconfig

from setuptools import setup

cffi_modules = []
if sys.platform.startswith("linux"):
    cffi_modules.append("runtime/reactor/_build/epoll_build.py:ffi")
    # io_uring's Ring: built against the kernel headers' <linux/io_uring.h>.
    if os.path.exists("/usr/include/linux/io_uring.h"):
        cffi_modules.append("runtime/reactor/_build/uring_build.py:ffi")
# kqueue: always on macOS/BSD; on Linux only where libkqueue's headers are
# installed (scripts/install-libkqueue.sh), otherwise skipped without a word.
if (sys.platform == "darwin" or "bsd" in sys.platform
        or os.path.exists("/usr/include/kqueue/sys/event.h")):
    cffi_modules.append("runtime/reactor/_build/kqueue_build.py:ffi")


# The commands that compile the extension (pip's wheel and editable builds
# call `dist_info` first, before any compiler output); `sdist` and `egg_info`
# do not compile, so they work without the headers.
COMPILING_COMMANDS = {"dist_info", "bdist_wheel", "editable_wheel", "build", "build_ext",
                      "install", "develop", "bdist_egg"}


def missing_python_header() -> str | None:
    """The first Python header the C compiler will need that is not installed."""
    python_h = os.path.join(sysconfig.get_paths()["include"], "Python.h")
    for header in (python_h, sysconfig.get_config_h_filename()):
        if not os.path.exists(header):
            return header
    return None


# Without the headers the compiler fails on `#include <Python.h>` (or pyconfig.h)
# deep inside a hundred lines of pip's output: stop first, with one line.
if cffi_modules and COMPILING_COMMANDS & set(sys.argv[1:]) and (missing := missing_python_header()):
    sys.exit(
        f"runtime: {missing} is missing, so the cffi extension cannot be compiled: install "
        f"the headers of Python {sys.version_info.major}.{sys.version_info.minor} "
        f"(Debian/Ubuntu: python3-dev, Fedora: python3-devel) and run pip again"
    )

setup(cffi_modules=cffi_modules)
