"""The asyncio streams echo (asyncio_streams.py) on uvloop's event loop."""

import sys

import uvloop
from asyncio_streams import main

if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
