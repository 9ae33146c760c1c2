"""Python `websockets` as an echo server for benches/compare.sh, with its defaults
(permessage-deflate on: window 12, memLevel 5, context kept).

Usage: .venv/bin/python benches/peers/websockets_echo.py HOST:PORT
"""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(address):
    host, port = address.rsplit(":", 1)
    async with serve(echo, host, int(port), max_size=64 * 1024 * 1024):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
