"""Fixtures for the interop tests: `wsock echo` on a free port, and test certificates."""
import subprocess
import tempfile

import pytest
import trustme

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


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA made for this run and a certificate for localhost, as files."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    folder = tmp_path_factory.mktemp("pki")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    # The chain: the leaf first, then its issuer.
    with open(paths["cert"], "wb") as chain:
        for blob in cert.cert_chain_pems:
            chain.write(blob.bytes())
    cert.private_key_pem.write_to_path(str(paths["key"]))
    return ca, cert, paths
