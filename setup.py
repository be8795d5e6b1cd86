# setuptools reads `cffi_modules` only from setup(); everything else is in pyproject.toml.
import os
import sys

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

setup(cffi_modules=cffi_modules)
