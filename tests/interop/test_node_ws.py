"""Interoperability with Node's `ws` package (tests/interop/node), permessage-deflate on.

`ws` as a client against `wsock echo`, and wsock's client (examples/interop_client.rs)
against a `ws` server. scripts/test.sh installs the package with npm first.
"""
import pathlib
import queue
import subprocess
import threading
import time

import pytest

from peers import BIN_DIR, TIMEOUT, free_port

NODE_DIR = pathlib.Path(__file__).resolve().parent / "node"


def test_node_client_against_wsock_server(wsock_echo):
    url, _ = wsock_echo
    result = subprocess.run(
        ["node", str(NODE_DIR / "client_check.mjs"), url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: permessage-deflate and subprotocol chat negotiated" in result.stdout


@pytest.fixture
def node_server():
    port = free_port()
    proc = subprocess.Popen(
        ["node", str(NODE_DIR / "echo_server.mjs"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "listening"
        yield f"ws://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)


def lines_until(stream, wanted, timeout):
    """What `stream` says, line by line, up to the first line containing `wanted` or
    until `timeout` seconds have passed. A thread reads, since a line may already sit
    in the stream's buffer where select cannot see it."""
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        seen.append(line)
        if wanted in line:
            break
    return "".join(seen)


def test_wsock_client_against_node_server(node_server):
    url, proc = node_server
    result = subprocess.run(
        [str(BIN_DIR / "examples" / "interop_client"), url, "--deflate"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: permessage-deflate negotiated: true" in result.stdout
    # The server logs each close it saw; ours came with code 4001 and reason "bye".
    # It logs when its socket has closed, which may be just after our client exits:
    # read its lines until that one, within TIMEOUT, rather than stop it first.
    assert "closed 4001 bye" in lines_until(proc.stdout, "closed 4001", TIMEOUT)
