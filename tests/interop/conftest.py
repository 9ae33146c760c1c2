"""Fixtures for the interop tests: `wsock echo` running on a free port."""
import subprocess
import tempfile

import pytest

from peers import BIN_DIR, TIMEOUT, free_port, wait_until_listening


@pytest.fixture(scope="module")
def wsock_echo():
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN_DIR / "wsock"), "echo", "--listen", f"127.0.0.1:{port}", "--protocol", "chat"],
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: nobody drains the log while tests run.
        stderr=tempfile.TemporaryFile(mode="w+"),
        text=True,
    )
    try:
        wait_until_listening(port, proc)
        yield f"ws://127.0.0.1:{port}/echo", port
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)
