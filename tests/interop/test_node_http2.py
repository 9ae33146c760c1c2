"""WebSockets over HTTP/2 (RFC 8441) with Node's `http2` module, which no one here wrote.

Node's http2 client, with its own framing, echoes through `wsock echo` over TLS (which
offers h2 and enables extended CONNECT); and `wsock connect --http2` echoes through a
Node http2 server that enables the connect protocol.
"""
import pathlib
import subprocess
import tempfile

from peers import BIN_DIR, TIMEOUT, free_port, wait_until_listening

NODE_DIR = pathlib.Path(__file__).resolve().parent / "node"


def test_node_http2_client_against_wsock_echo(pki):
    _, _, paths = pki
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [str(BIN_DIR / "wsock"), "echo", "--listen", f"127.0.0.1:{port}",
         "--tls-cert", str(paths["cert"]), "--tls-key", str(paths["key"])],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        wait_until_listening(port, proc)
        result = subprocess.run(
            ["node", str(NODE_DIR / "h2_client_check.mjs"), str(port), str(paths["ca"])],
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ok: echoed over an HTTP/2 stream and closed with 1000" in result.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)
    log.seek(0)
    assert "over=HTTP/2" in log.read(), "the server saw an extended CONNECT"


def test_wsock_client_over_http2_against_a_node_http2_server(pki):
    _, _, paths = pki
    port = free_port()
    proc = subprocess.Popen(
        ["node", str(NODE_DIR / "h2_echo_server.mjs"), str(port),
         str(paths["cert"]), str(paths["key"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "listening"
        result = subprocess.run(
            [str(BIN_DIR / "wsock"), "connect", "--no-proxy", "--no-deflate", "--http2",
             "--ca", str(paths["ca"]), f"wss://localhost:{port}/echo"],
            input="first line\nsecond line\n", capture_output=True, text=True, timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["first line", "second line"]
        assert "over HTTP/2" in result.stderr, result.stderr
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=TIMEOUT)
    assert "closed 1000" in output
