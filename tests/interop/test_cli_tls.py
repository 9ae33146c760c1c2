"""The CLI over wss://: `wsock connect --ca` to `wsock echo --tls-cert/--tls-key`."""
import subprocess
import tempfile

from peers import BIN_DIR, TIMEOUT, free_port, wait_until_listening


def start_tls_echo(paths):
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN_DIR / "wsock"), "echo", "--listen", f"127.0.0.1:{port}",
         "--tls-cert", str(paths["cert"]), "--tls-key", str(paths["key"])],
        stdout=subprocess.DEVNULL,
        stderr=tempfile.TemporaryFile(mode="w+"),
    )
    wait_until_listening(port, proc)
    return port, proc


def connect(url, *options, stdin=""):
    return subprocess.run(
        [str(BIN_DIR / "wsock"), "connect", "--no-proxy", url, *options],
        input=stdin, capture_output=True, text=True, timeout=TIMEOUT,
    )


def test_connect_with_the_ca_echoes_lines(pki):
    _, _, paths = pki
    port, proc = start_tls_echo(paths)
    try:
        result = connect(f"wss://localhost:{port}/echo", "--ca", str(paths["ca"]),
                         stdin="first line\nsecond line\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["first line", "second line"]
        assert "connected to wss://localhost" in result.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)


def test_connect_without_the_ca_fails_with_the_reason(pki):
    _, _, paths = pki
    port, proc = start_tls_echo(paths)
    try:
        result = connect(f"wss://localhost:{port}/echo", stdin="never sent\n")
        assert result.returncode == 1
        assert "TLS handshake with localhost failed" in result.stderr, result.stderr
        assert "UnknownIssuer" in result.stderr, result.stderr
        result = connect(f"wss://127.0.0.1:{port}/echo", "--ca", str(paths["ca"]))
        assert result.returncode == 1
        assert "not valid for name" in result.stderr, result.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)
