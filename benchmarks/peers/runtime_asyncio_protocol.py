"""The asyncio Protocol echo (asyncio_protocol.py) on runtime.asyncio's event loop."""

import sys

from asyncio_protocol import main

import runtime.asyncio

if __name__ == "__main__":
    runtime.asyncio.run(main(int(sys.argv[1])))
