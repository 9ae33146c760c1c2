"""`wsock broadcast` nodes sharing rooms through a real redis-server on loopback.

Two nodes, clients on each (Python websockets): messages cross nodes exactly once;
with Redis stopped, local delivery goes on; once Redis is back, delivery across nodes
resumes without restarting the nodes, and members hear that the history was lost. A
member coming back with the last position it saw gets exactly what it missed, or an
explicit gap when that is gone.
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


def start_node(port, redis_port=None, *extra):
    args = [str(BIN_DIR / "wsock"), "broadcast", "--listen", f"127.0.0.1:{port}", *extra]
    if redis_port:
        args += ["--redis", f"redis://127.0.0.1:{redis_port}"]
    proc = start(args)
    wait_until_listening(port, proc)
    return proc


class Member:
    """A chat client that keeps the room's names, and the last position it saw, up to
    date from the events it reads."""

    def __init__(self, port, name, since=None):
        query = f"room=lobby&name={name}" + (f"&since={since}" if since else "")
        self.connection = connect(f"ws://127.0.0.1:{port}/ws?{query}", open_timeout=TIMEOUT)
        self.users = set()
        self.position = None
        self.gaps = 0

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
        elif event["type"] == "gap":
            self.users = set(event["users"])
            self.gaps += 1
        if "position" in event:
            self.position = event["position"]
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

    def heard_through_redis(self, sender):
        """Has `sender` say probes until one reaches this member with a position: lines
        said before a node reaches Redis go to its own members only, unnumbered."""
        for attempt in range(60):  # every 0.25 s, for at most 15 s
            sender.send(f"probe {attempt}")
            deadline = time.monotonic() + 0.25
            while time.monotonic() < deadline:
                try:
                    event = self.event(timeout=max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    break
                if event["type"] == "message" and "position" in event:
                    return
        raise AssertionError("no line reached the member through Redis")

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
        nodes.append((port, start_node(port, redis_port)))
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
        # Redis came back empty: the room's history is lost, and members are told so
        # (before the first line of the new history) instead of silence.
        assert b1.gaps == 1, "b1 was not told that the history was lost"
        assert b1.users == {"a1", "a2", "b1"}, b1.users

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


def body(kind, node, room, payload):
    """A message on the nodes' channel, as `wsock::broadcast::RedisBackplane` writes it."""
    node, room = node.encode(), room.encode()
    return bytes([ord(kind), len(node)]) + node + len(room).to_bytes(2, "big") + room + payload


def test_what_anyone_publishes_to_the_channel_is_checked(cluster):
    port_a, _ = cluster["ports"]
    with Member(port_a, "alice") as alice:
        alice.wait_for_users(["alice"])
        line = lambda user, text: json.dumps({"user": user, "text": text, "time": 1}).encode()
        numbered = [
            # A browser event instead of a chat line: it would rename users.
            body("T", "evil", "lobby", json.dumps({"type": "welcome", "user": "mallory",
                                                   "room": "lobby", "users": []}).encode()),
            body("T", "evil", "lobby", line("admin\u202enimda", "hi")),
            body("T", "evil", "lobby", line("eve", "x" * (65 * 1024))),
            body("B", "evil", "lobby", b"\x00binary is not chat"),
        ]
        unnumbered = [
            b"0 0 " + body("S", "evil", "lobby", json.dumps({"roster": ["admin\u202enimda"]}).encode()),
            b"0 0 " + body("S", "evil", "lobby", json.dumps({"joined": "ali\u200bce"}).encode()),
            b"0 0 " + body("S", "evil", "lobby", json.dumps({"roster": [f"u{i}" for i in range(6000)]}).encode()),
            b"0 0 " + body("S", "evil", "lobby", json.dumps(["zed"]).encode()),
            b"0 0 " + body("S", "evil", "a/b", json.dumps({"joined": "zed"}).encode()),
            b"1 1 " + body("X", "evil", "lobby", b"an unknown kind"),
            b"not a message",
            b"1 1 " + body("T", "evil", "lobby", b"[" * (2 << 20)),
        ]
        for offset, message in enumerate(numbered, start=1):
            redis_publish(cluster["redis_port"], "wsock:rooms", b"1 %d " % offset + message)
        for message in unnumbered:
            redis_publish(cluster["redis_port"], "wsock:rooms", message)
        legit = b"1 %d " % (len(numbered) + 1) + body("T", "evil", "lobby", line("eve", "legit"))
        redis_publish(cluster["redis_port"], "wsock:rooms", legit)

        seen = []
        for _ in range(50):
            event = alice.event()
            seen.append(event)
            if event.get("text") == "legit":
                break
        expected = {"type": "message", "user": "eve", "text": "legit", "time": 1,
                    "position": f"1-{len(numbered) + 1}"}
        assert seen[-1] == expected, seen
        assert all(event["type"] in ("message", "join", "leave", "gap") for event in seen), seen
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

        restarted = start_node(port_b, cluster["redis_port"])
        cluster["nodes"].append((port_b, restarted))
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


def test_a_member_away_while_500_lines_flow_gets_each_once_in_order(cluster):
    """Two nodes, one room: b1 on node B drops for about 3 s while a1 on node A says
    500 lines; back on node B with its last position, it gets every line once, in order,
    then the live ones."""
    port_a, port_b = cluster["ports"]
    with Member(port_a, "a1") as a1:
        with Member(port_b, "b1") as b1:
            b1.heard_through_redis(a1)
            since = b1.position
        start_time = time.monotonic()
        for i in range(500):
            a1.send(f"line {i}")
            # Spread over 3 s: the lines flow while b1 is away, not in one burst.
            time.sleep(max(0.0, start_time + (i + 1) * 0.006 - time.monotonic()))
        assert a1.chat_lines(until="line 499", limit=700)[-1] == "line 499"
        with Member(port_b, "b1", since=since) as back:
            a1.send("live")
            lines = back.chat_lines(until="live", limit=700)
    said = [line for line in lines if not line.startswith("probe")]
    assert said == [f"line {i}" for i in range(500)] + ["live"]
    assert len(lines) == len(set(lines)), "a line came twice"
    assert back.gaps == 0


def test_a_trimmed_position_gets_a_gap_not_a_partial_replay(cluster):
    port = free_port()
    node = start_node(port, cluster["redis_port"], "--history", "10")
    cluster["nodes"].append((port, node))
    with Member(port, "keeper") as keeper:
        with Member(port, "t2") as t2:
            t2.heard_through_redis(keeper)
            since = t2.position
        for i in range(30):
            keeper.send(f"n {i}")
        keeper.chat_lines(until="n 29", limit=100)
        with Member(port, "t2", since=since) as back:
            assert back.event()["type"] == "welcome"
            gap = back.event()
            assert gap["type"] == "gap", gap
            assert set(gap["users"]) == {"keeper", "t2"}
            keeper.send("live")
            assert back.chat_lines(until="live") == ["live"]


def test_one_node_keeps_history_in_memory_and_a_restart_is_a_gap():
    port = free_port()
    node = start_node(port)
    try:
        with Member(port, "keeper") as keeper:
            with Member(port, "away") as away:
                keeper.send("first")
                away.chat_lines(until="first")
                since = away.position
            keeper.send("missed")
            keeper.chat_lines(until="missed")
            with Member(port, "away", since=since) as back:
                assert back.chat_lines(until="missed") == ["missed"]
                assert back.gaps == 0
        stop(node)
        node = start_node(port)
        with Member(port, "away", since=since) as back:
            assert back.event()["type"] == "welcome"
            assert back.event()["type"] == "gap", "a restart without Redis loses the history"
    finally:
        stop(node)
