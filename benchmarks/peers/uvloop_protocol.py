"""The asyncio Protocol echo (asyncio_protocol.py) on uvloop's event loop."""

import sys

import uvloop
from asyncio_protocol import main

if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
