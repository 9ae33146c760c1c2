"""`wsock broadcast` nodes sharing rooms through a real redis-server on loopback.

Two nodes, clients on each (Python websockets): messages cross nodes exactly once;
with Redis stopped, local delivery goes on; once Redis is back, delivery across nodes
resumes without restarting the nodes.
"""
import json
import shutil
import subprocess
import tempfile
import time

import pytest
from websockets.sync.client import connect

from peers import BIN_DIR, TIMEOUT, free_port, wait_until_listening

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def start(args):
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=tempfile.TemporaryFile(mode="w+"))


def start_redis(port):
    proc = start([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
    wait_until_listening(port, proc)
    return proc


def stop(proc):
    proc.terminate()
    proc.wait(timeout=TIMEOUT)


class Member:
    """A chat client that keeps the room's names up to date from the events it reads."""

    def __init__(self, port, name):
        self.connection = connect(f"ws://127.0.0.1:{port}/ws?room=lobby&name={name}", open_timeout=TIMEOUT)
        self.users = set()

    def __enter__(self):
        self.ws = self.connection.__enter__()
        return self

    def __exit__(self, *exc):
        self.connection.__exit__(*exc)

    def send(self, text):
        self.ws.send(text)

    def event(self, timeout=TIMEOUT):
        event = json.loads(self.ws.recv(timeout=timeout))
        if event["type"] == "welcome":
            self.users = set(event["users"])
        elif event["type"] == "join":
            self.users.add(event["user"])
        elif event["type"] == "leave":
            self.users.discard(event["user"])
        return event

    def chat_lines(self, until, limit=200):
        """Chat texts received up to and including `until` (other events applied)."""
        texts = []
        for _ in range(limit):
            event = self.event()
            if event["type"] == "message":
                texts.append(event["text"])
                if event["text"] == until:
                    return texts
        raise AssertionError(f"{until!r} never came; got {texts}")

    def wait_for_users(self, users):
        for _ in range(200):
            if self.users == set(users):
                return
            self.event()
        raise AssertionError(f"the room never showed {users}; it shows {self.users}")


@pytest.fixture
def cluster():
    redis_port = free_port()
    redis = start_redis(redis_port)
    nodes = []
    for _ in range(2):
        port = free_port()
        proc = start([str(BIN_DIR / "wsock"), "broadcast", "--listen", f"127.0.0.1:{port}",
                      "--redis", f"redis://127.0.0.1:{redis_port}"])
        wait_until_listening(port, proc)
        nodes.append((port, proc))
    state = {"redis": redis, "redis_port": redis_port, "ports": [port for port, _ in nodes], "nodes": nodes}
    try:
        yield state
    finally:
        for _, proc in nodes:
            stop(proc)
        stop(state["redis"])


def test_rooms_span_nodes_exactly_once_and_survive_a_redis_restart(cluster):
    port_a, port_b = cluster["ports"]
    with Member(port_a, "a1") as a1, Member(port_a, "a2") as a2, Member(port_b, "b1") as b1:
        # Rosters cross nodes: everyone sees all three.
        for member in (a1, a2, b1):
            member.wait_for_users(["a1", "a2", "b1"])

        a1.send("one")
        b1.send("two")
        for member in (a1, a2, b1):
            # "one" and "two" may arrive in either order on each node, but each once.
            lines = member.chat_lines(until="two")
            if "one" not in lines:
                lines += member.chat_lines(until="one")
            assert sorted(lines) == ["one", "two"], lines

        # Redis goes away: members on one node still hear each other.
        stop(cluster["redis"])
        a1.send("local only")
        assert a2.chat_lines(until="local only") == ["local only"]
        assert a1.chat_lines(until="local only") == ["local only"]

        # Redis comes back on the same port; the nodes reconnect by themselves.
        cluster["redis"] = start_redis(cluster["redis_port"])
        resumed = False
        for attempt in range(60):  # probes every 0.25 s, for at most 15 s
            a1.send(f"probe {attempt}")
            try:
                event = b1.event(timeout=0.25)
            except TimeoutError:
                continue
            if event["type"] == "message" and event["text"].startswith("probe"):
                resumed = True
                break
        assert resumed, "delivery across nodes did not resume after Redis came back"

        a1.send("after")
        b1_lines = b1.chat_lines(until="after")
        assert b1_lines.count("after") == 1
        assert all(line.startswith("probe") for line in b1_lines[:-1])
        a2_lines = a2.chat_lines(until="after")
        assert a2_lines.count("after") == 1
        assert "local only" not in b1_lines, "a message sent while Redis was down came late"


def test_the_page_and_bad_requests(cluster):
    import urllib.error
    import urllib.request

    port = cluster["ports"][0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=TIMEOUT) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<title>wsock chat</title>" in response.read().decode()
    for path, status, reason in [
        ("/ws", 400, "Upgrade"),  # a plain GET is not a WebSocket request
        ("/elsewhere", 404, "not found"),
    ]:
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=TIMEOUT)
        assert error.value.code == status, path
        assert reason in error.value.read().decode(), path
    # A member asking for an invalid room is refused with 1008, a reason a page can show.
    assert refusal(port, "room=a/b").startswith("invalid room")


def refusal(port, query):
    """The reason of the 1008 close a member with `query` gets."""
    from websockets.exceptions import ConnectionClosedError

    with connect(f"ws://127.0.0.1:{port}/ws?{query}", open_timeout=TIMEOUT) as ws:
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd.code == 1008, closed.value
    return closed.value.rcvd.reason


def redis_publish(port, channel, payload):
    """PUBLISH through a raw RESP connection, as any client of the Redis could."""
    import socket

    parts = [b"PUBLISH", channel.encode(), payload]
    command = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(command)
        assert sock.recv(64).startswith(b":"), "PUBLISH was not answered"


def test_what_anyone_publishes_to_the_channel_is_checked(cluster):
    port_a, _ = cluster["ports"]
    with Member(port_a, "alice") as alice:
        alice.wait_for_users(["alice"])
        hostile = [
            # A browser event instead of a chat line: the old format renamed users.
            {"node": "evil", "room": "lobby", "kind": "message",
             "data": json.dumps({"type": "welcome", "user": "mallory", "room": "lobby", "users": []})},
            {"node": "evil", "room": "lobby", "kind": "welcome", "data": {"user": "mallory"}},
            {"node": "evil", "room": "lobby", "kind": "roster", "data": ["admin\u202enimda"]},
            {"node": "evil", "room": "lobby", "kind": "roster", "data": [f"u{i}" for i in range(6000)]},
            {"node": "evil", "room": "lobby", "kind": "message",
             "data": {"user": "eve", "text": "x" * (65 * 1024), "time": 1}},
        ]
        for envelope in hostile:
            redis_publish(cluster["redis_port"], "wsock:broadcast", json.dumps(envelope).encode())
        redis_publish(cluster["redis_port"], "wsock:broadcast", b"[" * (2 << 20))
        legit = {"node": "evil", "room": "lobby", "kind": "message",
                 "data": {"user": "eve", "text": "legit", "time": 1}}
        redis_publish(cluster["redis_port"], "wsock:broadcast", json.dumps(legit).encode())

        seen = []
        for _ in range(50):
            event = alice.event()
            seen.append(event)
            if event.get("text") == "legit":
                break
        assert seen[-1] == {"type": "message", "user": "eve", "text": "legit", "time": 1}, seen
        assert all(event["type"] in ("message", "join", "leave") for event in seen), seen
        assert [e for e in seen if e["type"] == "message"] == [seen[-1]], seen
        assert alice.users == {"alice"}, alice.users
        # The node still relays its own members' lines.
        alice.send("still here")
        assert alice.chat_lines(until="still here") == ["still here"]


def test_names_are_unique_per_room_and_invisible_characters_refused(cluster):
    port_a, port_b = cluster["ports"]
    with Member(port_a, "sam") as first, Member(port_a, "sam") as second:
        assert first.event()["user"] == "sam"
        welcome = second.event()
        assert welcome["type"] == "welcome" and welcome["user"] != "sam", welcome
        assert welcome["user"].startswith("sam-"), welcome
        assert set(welcome["users"]) == {"sam", welcome["user"]}
    for name in ["admin%E2%80%AEnimda", "ali%E2%80%8Bce"]:
        assert refusal(port_b, f"name={name}").startswith("invalid name"), name


def test_a_killed_node_drops_out_and_its_restart_joins_once(cluster):
    """A node killed with SIGKILL says no goodbye: its members leave the other node's
    roster once its announcements stop for the expiry (3 heartbeats of 2 s). Restarted
    on the same port, its member comes back with exactly one join."""
    port_a, port_b = cluster["ports"]
    node_b = next(proc for port, proc in cluster["nodes"] if port == port_b)
    with Member(port_a, "ann") as ann:
        with Member(port_b, "bob") as bob:
            ann.wait_for_users(["ann", "bob"])
            bob.wait_for_users(["ann", "bob"])
            node_b.kill()  # SIGKILL: no leave, no last roster
            node_b.wait(timeout=TIMEOUT)
            killed = time.monotonic()
            ann.wait_for_users(["ann"])
            # REMOTE_TTL is 6 s; the node's last roster may have gone out up to 2 s
            # before the kill, and ann's node checks expiry on its own tick.
            assert time.monotonic() - killed < 6 + 2 + 2, "the ghost stayed too long"

        restarted = start([str(BIN_DIR / "wsock"), "broadcast", "--listen", f"127.0.0.1:{port_b}",
                           "--redis", f"redis://127.0.0.1:{cluster['redis_port']}"])
        cluster["nodes"].append((port_b, restarted))
        wait_until_listening(port_b, restarted)
        with Member(port_b, "bob") as bob_again:
            ann.wait_for_users(["ann", "bob"])
            bob_again.wait_for_users(["ann", "bob"])
            # Three roster heartbeats later, still one "bob" and no repeated join.
            joins = 0
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                try:
                    event = ann.event(timeout=max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    break
                assert event["type"] != "leave", event
                joins += event["type"] == "join"
            assert joins == 0, "bob joined again on a roster heartbeat"
            assert ann.users == {"ann", "bob"}
