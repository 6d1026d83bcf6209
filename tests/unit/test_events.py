"""The event log: bounded, ordered, readable by a second connection; Docker's filters and line format."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dockyard.cli.events import line, message
from dockyard.engine.events import EventFilter, EventLog
from dockyard.metadata.db import Database
from dockyard.metadata.events import MAX_EVENTS, Event, EventReader, record

IMAGE = "sha256:" + "ab" * 32


def test_the_log_keeps_the_newest_events_only(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    with db.transaction():  # one commit: ten thousand fsyncs would take a while
        for n in range(MAX_EVENTS + 25):
            record(db, "image", "tag", IMAGE, {"name": f"x:{n}"})
    found = EventReader(db).read()
    assert len(found) == MAX_EVENTS
    assert found[0].attributes["name"] == "x:25" and found[-1].attributes["name"] == f"x:{MAX_EVENTS + 24}"
    assert [e.id for e in found] == sorted(e.id for e in found)


def test_query_bounds_are_inclusive_seconds(tmp_path: Path) -> None:
    log = EventLog(Database(tmp_path / "db"))
    log.emit("volume", "create", "v1", {"driver": "local"})
    (event,) = log.query(None, None)
    at = event.time_nano / 1e9  # a float second holds the time to a few hundred nanoseconds
    assert log.query(at - 1e-6, at + 1e-6) == [event] and log.query(int(at), None) == [event]
    assert log.query(at + 0.001, None) == [] and log.query(None, at - 0.001) == []


def test_follow_sees_another_connections_events_and_stops_at_until(tmp_path: Path) -> None:
    log = EventLog(Database(tmp_path / "db"))
    until = time.time() + 1.0

    def later() -> None:
        writer = Database(tmp_path / "db")  # another connection, as another process would have
        time.sleep(0.3)
        record(writer, "network", "create", "n" * 64, {"name": "net1", "type": "bridge"})

    threading.Thread(target=later).start()
    started = time.monotonic()
    seen = list(log.follow(None, until, None, poll=0.05))
    assert [(e.type, e.action, e.attributes["name"]) for e in seen] == [("network", "create", "net1")]
    assert 0.9 < time.monotonic() - started < 3


def _event(type_: str, action: str, actor: str, **attributes: str) -> Event:
    return Event(1, 1796581512769044023, type_, action, actor, attributes)


def test_filters_are_dockers() -> None:
    tag = _event("image", "tag", IMAGE, name="busybox:latest", maintainer="me")
    die = _event("container", "die", "c" * 64, image="busybox:latest", name="web", exitCode="3")
    exec_start = _event("container", "exec_start: sh -c true", "c" * 64, image="busybox", name="web")

    def keep(*pairs: str) -> EventFilter:
        parsed: dict[str, list[str]] = {}
        for pair in pairs:
            key, _, value = pair.partition("=")
            parsed.setdefault(key, []).append(value)
        return EventFilter.parse(parsed)

    assert keep("type=image")(tag) and not keep("type=image")(die)
    assert keep("type=image", "type=container")(die)
    assert keep("event=die")(die) and not keep("event=di")(die)
    assert keep("event=exec_start")(exec_start)  # Docker matches exec_start by prefix
    assert keep("container=web")(die) and keep("container=ccc")(die) and not keep("container=web")(tag)
    assert keep("image=busybox")(tag) and keep("image=busybox:latest")(die) and not keep("image=alpine")(tag)
    assert keep("label=maintainer")(tag) and keep("label=maintainer=me")(tag) and not keep("label=maintainer=you")(tag)
    assert keep("type=container", "event=die", "container=web")(die)


def test_docker_line_and_json_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")  # Docker prints the local zone
    time.tzset()
    tag = _event("image", "tag", IMAGE, name="busybox:latest")
    assert line(tag) == f"2026-12-06T18:25:12.769044023Z image tag {IMAGE} (name=busybox:latest)\n"
    prune = _event("container", "prune", "", reclaimed="0")
    assert line(prune) == "2026-12-06T18:25:12.769044023Z container prune  (reclaimed=0)\n"
    die = message(_event("container", "die", "c" * 64, image="bb", name="web", exitCode="3"))
    assert list(die) == ["status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert die["from"] == "bb" and die["time"] == 1796581512 and die["Actor"]["Attributes"]["exitCode"] == "3"
    net = message(_event("network", "create", "n" * 64, name="n1", type="bridge"))
    assert list(net) == ["Type", "Action", "Actor", "scope", "time", "timeNano"]


def test_a_worker_thread_records_through_a_connection_of_its_own(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")  # sqlite3 refuses this connection in another thread
    worker = threading.Thread(target=lambda: record(db, "container", "kill", "c" * 64, {"signal": "15"}))
    worker.start()
    worker.join()
    assert [(e.action, e.attributes) for e in EventReader(db).read()] == [("kill", {"signal": "15"})]
