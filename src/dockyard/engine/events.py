"""The event service: commands append to the store's event log; ``events`` reads and follows it.

Every process writes its own events into the metadata database (there is no
daemon to broadcast them), so a follower polls the log by row ID, which is
cheap (a primary-key range) and sees what any other process committed.
Filters are Docker's (daemon/events/filter.go): ``type``, ``event``,
``container``, ``image``, ``network``, ``volume``, ``label``; keys it does
not know are ignored, as dockerd ignores them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

from dockyard.metadata.db import Database
from dockyard.metadata.events import Event, EventReader, record

POLL_SECONDS = 0.15
# Docker matches these actions by prefix: "exec_start" matches "exec_start: sh -c …"
_PREFIX_ACTIONS = ("exec_create", "exec_start", "health_status")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Parsed ``--filter`` values: each key's values are alternatives, the keys all must match."""

    values: dict[str, tuple[str, ...]]

    @classmethod
    def parse(cls, pairs: dict[str, list[str]]) -> EventFilter:
        return cls({key: tuple(vals) for key, vals in pairs.items() if vals})

    def __call__(self, event: Event) -> bool:
        return (
            self._action(event.action)
            and self._exact("type", event.type)
            and all(self._named(event, kind) for kind in ("container", "network", "volume"))
            and self._image(event)
            and self._labels(event.attributes)
        )

    def _exact(self, key: str, *candidates: str) -> bool:
        wanted = self.values.get(key)
        return not wanted or any(c in wanted for c in candidates)

    def _fuzzy(self, key: str, *candidates: str) -> bool:
        wanted = self.values.get(key)
        return not wanted or any(c.startswith(w) for w in wanted for c in candidates if c)

    def _action(self, action: str) -> bool:
        wanted = self.values.get("event")
        if wanted and any(w in _PREFIX_ACTIONS for w in wanted):
            return self._fuzzy("event", action)
        return self._exact("event", action)

    def _named(self, event: Event, kind: str) -> bool:
        """Docker's fuzzyMatchName: the actor's ID or its name attribute starts with a value."""
        return self._fuzzy(kind, event.actor_id, event.attributes.get("name", ""))

    def _image(self, event: Event) -> bool:
        name = event.attributes.get("name" if event.type == "image" else "image", "")
        return self._exact("image", event.actor_id, name, _strip_tag(event.actor_id), _strip_tag(name))

    def _labels(self, attributes: dict[str, str]) -> bool:
        for item in self.values.get("label", ()):
            key, sep, value = item.partition("=")
            if key not in attributes or (sep and attributes[key] != value):
                return False
        return True


def _strip_tag(name: str) -> str:
    """``busybox:latest`` -> ``busybox`` (a registry port's colon stays)."""
    head, sep, tail = name.rpartition(":")
    return head if sep and "/" not in tail and not name.startswith("sha256:") else name


class EventLog:
    """``engine.events``: emit, query a time window, follow live."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._reader = EventReader(db)

    def emit(self, type: str, action: str, actor_id: str, attributes: dict[str, str]) -> None:
        record(self._db, type, action, actor_id, attributes)

    def pruned(self, type: str, reclaimed: int) -> None:
        """Docker's ``prune`` event of a store (container, image, network, volume, builder): no actor."""
        self.emit(type, "prune", "", {"reclaimed": str(reclaimed)})

    def query(self, since: float | None, until: float | None, filters: EventFilter | None = None) -> list[Event]:
        """Stored events with since <= time <= until (unix seconds), oldest first."""
        found = self._reader.read(0, _nano(since), _nano(until))
        return [e for e in found if filters is None or filters(e)]

    def follow(
        self,
        since: float | None,
        until: float | None,
        filters: EventFilter | None = None,
        *,
        poll: float = POLL_SECONDS,
        clock: Callable[[], float] = time.time,
        stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[Event]:
        """Past events from ``since`` (none without it, as Docker), then new ones until ``until`` passes
        (or ``stop`` says so: the API's client has gone)."""
        last = self._reader.last_id()
        if since is not None or until is not None:
            for event in self.query(since, until, filters):
                last = max(last, event.id)
                yield event
        until_nano = _nano(until)
        while True:
            done = until is not None and clock() > until  # one more read after: commits up to ``until``
            for event in self._reader.read(last, None, until_nano):
                last = event.id
                if filters is None or filters(event):
                    yield event
            if done or stop():
                return
            time.sleep(poll)

    def close(self) -> None:
        self._reader.close()


def _nano(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1_000_000_000))


def event_message(event: Event) -> dict[str, object]:
    """Docker's events.Message (``events --format``, ``GET /events``): the deprecated status/id/from first, for containers and images only."""
    out: dict[str, object] = {}
    if event.type in ("container", "image"):
        out["status"], out["id"] = event.action, event.actor_id
        if event.type == "container" and event.attributes.get("image"):
            out["from"] = event.attributes["image"]
    out.update({
        "Type": event.type, "Action": event.action, "Actor": {"ID": event.actor_id, "Attributes": dict(event.attributes)},
        "scope": "local", "time": event.time, "timeNano": event.time_nano,
    })  # fmt: skip
    return out
