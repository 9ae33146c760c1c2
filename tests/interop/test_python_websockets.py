"""Interoperability with Python's `websockets`, a peer no one here wrote.

Our server (`wsock echo`) against the websockets client, and our client
(`examples/interop_client.rs`, async and blocking) against a websockets server,
over ws:// and wss:// (certificates from trustme, made for the run). Binaries come from
WSOCK_BIN_DIR (default target/release); scripts/test.sh builds them first.
"""
import ssl
import subprocess
import tempfile

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from peers import BIN_DIR, TIMEOUT, free_port, wait_until_listening
from python_peer import PythonServer, run_interop_client, wait_for_close

@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 16 * 1024 * 1024])
def test_binary_echo(wsock_echo, size):
    url, _ = wsock_echo
    payload = bytes(i % 251 for i in range(size))
    with connect(url, max_size=None, open_timeout=TIMEOUT) as ws:
        assert_deflate(ws)
        ws.send(payload)
        assert ws.recv(timeout=TIMEOUT) == payload


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 16 * 1024 * 1024])
def test_text_echo(wsock_echo, size):
    url, _ = wsock_echo
    text = "ab☃" * (size // 5) + "x" * (size % 5)  # exactly `size` bytes of UTF-8
    assert len(text.encode()) == size
    with connect(url, max_size=None, open_timeout=TIMEOUT) as ws:
        assert_deflate(ws)
        ws.send(text)
        assert ws.recv(timeout=TIMEOUT) == text


def assert_deflate(ws):
    """websockets offers permessage-deflate by default and `wsock echo` accepts it."""
    assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]


def test_uncompressed_connection_works_too(wsock_echo):
    url, _ = wsock_echo
    with connect(url, compression=None, open_timeout=TIMEOUT) as ws:
        assert ws.protocol.extensions == []
        ws.send("plain")
        assert ws.recv(timeout=TIMEOUT) == "plain"


def test_ping_is_answered(wsock_echo):
    url, _ = wsock_echo
    with connect(url, open_timeout=TIMEOUT) as ws:
        pong = ws.ping(b"are you there")
        assert pong.wait(TIMEOUT)


def test_close_code_and_reason_are_echoed(wsock_echo):
    url, _ = wsock_echo
    with connect(url, open_timeout=TIMEOUT) as ws:
        ws.close(4001, "bye")
    assert ws.protocol.close_rcvd.code == 4001
    assert ws.protocol.close_rcvd.reason == "bye"


def test_subprotocol_is_chosen_among_offers(wsock_echo):
    url, _ = wsock_echo
    with connect(url, subprotocols=["superchat", "chat"], open_timeout=TIMEOUT) as ws:
        assert ws.subprotocol == "chat"


def test_foreign_origin_is_rejected_with_403(wsock_echo):
    url, _ = wsock_echo
    with pytest.raises(InvalidStatus) as error:
        connect(url, origin="http://evil.example", open_timeout=TIMEOUT)
    assert error.value.response.status_code == 403


def test_same_origin_is_accepted(wsock_echo):
    url, port = wsock_echo
    with connect(url, origin=f"http://127.0.0.1:{port}", open_timeout=TIMEOUT) as ws:
        ws.send("from a page on the same origin")
        assert ws.recv(timeout=TIMEOUT) == "from a page on the same origin"


@pytest.mark.parametrize("api", ["async", "blocking"])
@pytest.mark.parametrize("deflate", [True, False], ids=["deflate", "plain"])
def test_wsock_client_against_websockets_server(deflate, api):
    with PythonServer() as server:
        options = (["--deflate"] if deflate else []) + (["--blocking"] if api == "blocking" else [])
        run_interop_client(f"ws://127.0.0.1:{server.port}", *options)
        wait_for_close(server)


def test_websockets_client_against_wsock_echo_over_wss(pki):
    ca, _, paths = pki
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN_DIR / "wsock"), "echo", "--listen", f"127.0.0.1:{port}",
         "--tls-cert", str(paths["cert"]), "--tls-key", str(paths["key"])],
        stdout=subprocess.DEVNULL,
        stderr=tempfile.TemporaryFile(mode="w+"),
    )
    try:
        wait_until_listening(port, proc)
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ca.configure_trust(context)
        with connect(f"wss://localhost:{port}/echo", ssl=context, max_size=None, open_timeout=TIMEOUT) as ws:
            assert_deflate(ws)
            for message in ["over TLS", b"\x00" * 1_000_000]:
                ws.send(message)
                assert ws.recv(timeout=TIMEOUT) == message
            ws.close(4001, "bye")
        assert ws.protocol.close_rcvd.code == 4001
        # A client that does not trust the CA is refused by its own TLS.
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(f"wss://localhost:{port}/echo", open_timeout=TIMEOUT)
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)


@pytest.mark.parametrize("api", ["async", "blocking"])
def test_wsock_client_against_websockets_server_over_wss(pki, api):
    _, cert, paths = pki
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    with PythonServer(ssl=context) as server:
        options = ["--deflate", "--ca", str(paths["ca"])] + (["--blocking"] if api == "blocking" else [])
        run_interop_client(f"wss://localhost:{server.port}", *options)
        wait_for_close(server)
