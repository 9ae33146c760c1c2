"""permessage-deflate parameter sets that real clients offer, against `wsock echo` in
its default mode and in the shared-compressor mode (`--deflate-shared`), with Python
`websockets` as the client: its defaults (window 12 and memLevel 5 for itself), and
gorilla's offer (`server_no_context_takeover; client_no_context_takeover`).
"""
import subprocess
import tempfile

import pytest
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

from peers import BIN_DIR, TIMEOUT, free_port, wait_until_listening

FEED = [
    '{"id":%d,"event":"price_update","symbol":"ACME","bid":%d.25,"ask":%d.5}' % (i, 100 + i, 100 + i)
    for i in range(200)
]

OFFERS = {
    "websockets defaults": None,
    "gorilla": ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True
    ),
    "small windows": ClientPerMessageDeflateFactory(
        server_max_window_bits=10, client_max_window_bits=10
    ),
}


@pytest.fixture(params=[[], ["--deflate-shared"]], ids=["default mode", "shared mode"])
def echo_url(request):
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN_DIR / "wsock"), "echo", "--listen", f"127.0.0.1:{port}", *request.param],
        stdout=subprocess.DEVNULL,
        stderr=tempfile.TemporaryFile(mode="w+"),
    )
    try:
        wait_until_listening(port, proc)
        yield f"ws://127.0.0.1:{port}/echo"
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)


@pytest.mark.parametrize("offer", list(OFFERS), ids=list(OFFERS))
def test_a_json_feed_echoes_compressed(echo_url, offer):
    extensions = {} if OFFERS[offer] is None else {"extensions": [OFFERS[offer]]}
    with connect(echo_url, open_timeout=TIMEOUT, **extensions) as ws:
        assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
        for message in FEED:
            ws.send(message * 4)
            assert ws.recv(timeout=TIMEOUT) == message * 4
