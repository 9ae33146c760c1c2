"""A Python `websockets` server for wsock's client to talk to, and the runner of
examples/interop_client, shared by the interop tests."""
import asyncio
import subprocess
import threading
import time

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from peers import BIN_DIR, TIMEOUT, free_port


class PythonServer:
    """A websockets echo server on its own event loop thread."""

    def __init__(self, ssl=None):
        self.ssl = ssl
        self.port = free_port()
        self.closes = []
        self.peers = []  # the address each connection came from
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.main(),), daemon=True)

    async def handler(self, ws):
        self.peers.append(ws.remote_address[0])
        if ws.request.path.startswith("/close-me"):
            await ws.close(4002, "server bye")
            return
        try:
            async for message in ws:
                if message == "ping-me":
                    pong = await ws.ping(b"from-python")
                    await asyncio.wait_for(pong, TIMEOUT)
                    await ws.send("pong-ok")
                else:
                    await ws.send(message)
        except ConnectionClosed:
            pass  # websockets raises for codes other than 1000 and 1001
        self.closes.append((ws.close_code, ws.close_reason))

    async def main(self):
        self.stop = asyncio.Event()
        async with serve(self.handler, "127.0.0.1", self.port, subprotocols=["chat"], max_size=None, ssl=self.ssl):
            self.ready.set()
            await self.stop.wait()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(TIMEOUT)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(TIMEOUT)


def run_interop_client(base, *options, env=None, expect_success=True):
    """Runs examples/interop_client against BASE; fails with its output unless it
    succeeds (or, with expect_success=False, unless it fails). Returns its output."""
    result = subprocess.run(
        [str(BIN_DIR / "examples" / "interop_client"), base, *options],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert (result.returncode == 0) == expect_success, result.stdout + result.stderr
    return result.stdout + result.stderr


def wait_for_close(server):
    for _ in range(100):  # the handler records the close just after it completes
        if server.closes:
            break
        time.sleep(0.05)
    assert server.closes == [(4001, "bye")]
