"""`wsock broadcast` (a page and its WebSocket on one port) under the attacks a plain
hyper server without a timer falls to: requests that never finish their head, and
more connections than it can hold.
"""
import contextlib
import resource
import selectors
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
from websockets.sync.client import connect

from peers import BIN_DIR, TIMEOUT, free_port, wait_until_listening


@pytest.fixture
def node(request):
    """A `wsock broadcast` node started with the test's extra arguments."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN_DIR / "wsock"), "broadcast", "--listen", f"127.0.0.1:{port}", *request.param],
        stdout=subprocess.DEVNULL, stderr=tempfile.TemporaryFile(), env={"RUST_LOG": "warn"})
    wait_until_listening(port, proc)
    yield port
    proc.terminate()
    proc.wait(timeout=TIMEOUT)


def page_loads(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=TIMEOUT) as response:
        return response.status == 200 and "<title>wsock chat</title>" in response.read().decode()


@pytest.mark.parametrize("node", [["--handshake-timeout", "2"]], indirect=True)
def test_half_sent_requests_are_closed_within_the_head_timeout_while_pages_load(node):
    attackers = []
    started = time.monotonic()
    for i in range(2000):
        sock = socket.create_connection(("127.0.0.1", node), timeout=TIMEOUT)
        if i % 2 == 0:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # half a head; the other half sends nothing
        attackers.append(sock)
    assert page_loads(node), "the page did not load during the attack"

    open_ones = selectors.DefaultSelector()
    for sock in attackers:
        sock.setblocking(False)
        open_ones.register(sock, selectors.EVENT_READ)
    # Each is closed once its own head timeout (2 s) has passed; the last was opened
    # just now, and a loaded machine gets room.
    deadline = time.monotonic() + 2 + 8
    while open_ones.get_map() and time.monotonic() < deadline:
        for key, _ in open_ones.select(timeout=0.5):
            try:
                data = key.fileobj.recv(1024)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            assert data == b"", f"the server answered a half-sent request: {data!r}"
            open_ones.unregister(key.fileobj)
    still_open = len(open_ones.get_map())
    assert still_open == 0, f"{still_open} half-sent requests still held after {time.monotonic() - started:.1f} s"
    for sock in attackers:
        sock.close()
    assert page_loads(node)


@pytest.mark.parametrize("node", [["--max-connections", "5"]], indirect=True)
def test_the_connection_past_the_cap_gets_503(node):
    with contextlib.ExitStack() as stack:
        for i in range(5):
            member = stack.enter_context(connect(f"ws://127.0.0.1:{node}/ws?name=m{i}", open_timeout=TIMEOUT))
            assert '"welcome"' in member.recv(timeout=TIMEOUT)
        with socket.create_connection(("127.0.0.1", node), timeout=TIMEOUT) as extra:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = extra.recv(1024)
        assert answer.startswith(b"HTTP/1.1 503"), answer
