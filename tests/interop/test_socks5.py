"""wsock's client through a SOCKS5 proxy no one here wrote: Debian's microsocks.

microsocks binds its outgoing connections to 127.0.0.2, so a server that sees a
connection from 127.0.0.2 knows it came through the tunnel and not around it. The
proxy URL comes from `all_proxy`, as curl and Python websockets read it, for the async
and the blocking API (examples/interop_client), and from `--proxy` for `wsock connect`.
"""
import os
import shutil
import ssl
import subprocess
import tempfile

import pytest

from peers import BIN_DIR, TIMEOUT, free_port, wait_until_listening
from python_peer import PythonServer, run_interop_client, wait_for_close

MICROSOCKS = shutil.which("microsocks")
TUNNEL_SOURCE = "127.0.0.2"


class Microsocks:
    """microsocks on a free port of 127.0.0.1, with a user and password if given."""

    def __init__(self, user=None, password=None):
        self.port = free_port()
        self.args = [MICROSOCKS, "-i", "127.0.0.1", "-p", str(self.port), "-b", TUNNEL_SOURCE]
        if user:
            self.args += ["-u", user, "-P", password]

    def url(self, scheme, credentials=None):
        auth = f"{credentials}@" if credentials else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def __enter__(self):
        assert MICROSOCKS, "microsocks is missing: scripts/test.sh installs it with apt-get"
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until_listening(self.port, self.proc)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=TIMEOUT)


def proxy_env(url):
    """The environment with `all_proxy` set to URL and no other proxy variables."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["all_proxy"] = url
    return env


@pytest.mark.parametrize("api", ["async", "blocking"])
@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_conversation_through_an_authenticating_socks5_proxy(api, scheme):
    with Microsocks("alice", "s3cret") as proxy, PythonServer() as server:
        env = proxy_env(proxy.url(scheme, "alice:s3cret"))
        options = ["--deflate"] + (["--blocking"] if api == "blocking" else [])
        # A name, so that socks5:// resolves it here and socks5h:// leaves it to the proxy.
        run_interop_client(f"ws://localhost:{server.port}", *options, env=env)
        wait_for_close(server)
        assert server.peers and set(server.peers) == {TUNNEL_SOURCE}


@pytest.mark.parametrize("api", ["async", "blocking"])
def test_wss_runs_end_to_end_inside_the_tunnel(pki, api):
    _, cert, paths = pki
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    with Microsocks() as proxy, PythonServer(ssl=context) as server:
        options = ["--ca", str(paths["ca"])] + (["--blocking"] if api == "blocking" else [])
        env = proxy_env(proxy.url("socks5h"))
        run_interop_client(f"wss://localhost:{server.port}", *options, env=env)
        wait_for_close(server)
        assert set(server.peers) == {TUNNEL_SOURCE}


@pytest.mark.parametrize("api", ["async", "blocking"])
@pytest.mark.parametrize(
    "credentials, words",
    [
        ("alice:wrong", "refused the user name and password"),
        (None, "put user:password@ in the proxy URL"),
    ],
    ids=["wrong-password", "no-credentials"],
)
def test_a_refusing_proxy_gets_a_clear_error(api, credentials, words):
    with Microsocks("alice", "s3cret") as proxy, PythonServer() as server:
        env = proxy_env(proxy.url("socks5h", credentials))
        options = ["--blocking"] if api == "blocking" else []
        output = run_interop_client(
            f"ws://127.0.0.1:{server.port}", *options, env=env, expect_success=False
        )
        assert words in output and "wrong" not in output, output
        assert server.peers == []


@pytest.mark.parametrize("api", ["async", "blocking"])
def test_a_proxy_that_cannot_reach_the_server_says_so(api):
    closed_port = free_port()  # nothing listens there
    with Microsocks() as proxy:
        env = proxy_env(proxy.url("socks5"))
        options = ["--blocking"] if api == "blocking" else []
        output = run_interop_client(
            f"ws://127.0.0.1:{closed_port}", *options, env=env, expect_success=False
        )
        assert "could not open the tunnel" in output, output


def test_wsock_connect_takes_a_socks5_proxy():
    with Microsocks("alice", "s3cret") as proxy, PythonServer() as server:
        result = subprocess.run(
            # The Python server requires the subprotocol "chat".
            # -n 1: wait for the echo before closing. Without it the close follows the
            # line at once, and websockets may take the close before echoing.
            [str(BIN_DIR / "wsock"), "connect", f"ws://127.0.0.1:{server.port}/", "--protocol", "chat",
             "--proxy", proxy.url("socks5h", "alice:s3cret"), "-n", "1"],
            input="through socks\n",
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stderr
        assert "through socks" in result.stdout
        assert server.peers == [TUNNEL_SOURCE]
