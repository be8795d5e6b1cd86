"""The asyncio streams echo (asyncio_streams.py) on runtime.asyncio's event loop."""

import sys

from asyncio_streams import main

import runtime.asyncio

if __name__ == "__main__":
    runtime.asyncio.run(main(int(sys.argv[1])))
