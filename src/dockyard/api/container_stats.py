"""``GET /containers/{id}/stats``: Docker's StatsJSON from the engine's usage readings, one document or one a second."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from dockyard.api.http import HIJACKED, Request, Response, json_response
from dockyard.api.router import Route
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.runtime.container_state import Container
    from dockyard.runtime.control import Sample


def _cpu(sample: Sample | None) -> dict[str, object]:
    throttling = {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
    if sample is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": throttling}
    return {"cpu_usage": {"total_usage": sample.cpu_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "system_cpu_usage": sample.system_ns, "online_cpus": os.cpu_count() or 1, "throttling_data": throttling}


def _go_time(moment: float | None) -> str:
    if moment is None:
        return "0001-01-01T00:00:00Z"
    from datetime import datetime, timezone

    from dockyard.oci.timefmt import format_time

    return format_time(datetime.fromtimestamp(moment, timezone.utc))


def stats_document(container: Container, before: Sample | None, after: Sample | None,
                   read: float, preread: float | None) -> dict[str, object]:
    """Docker's StatsJSON (cgroup v1 names) from two readings; ``before`` None: no previous reading."""
    doc: dict[str, object] = {
        "read": _go_time(read if after is not None else None), "preread": _go_time(preread), "pids_stats": {},
        "blkio_stats": {k: None for k in ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
                                          "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
                                          "io_time_recursive", "sectors_recursive")},
        "num_procs": 0, "storage_stats": {}, "cpu_stats": _cpu(after), "precpu_stats": _cpu(before),
        "memory_stats": {}, "name": "/" + container.name, "id": container.id,
    }
    if after is not None:
        doc["pids_stats"] = {"current": after.pids}
        doc["blkio_stats"]["io_service_bytes_recursive"] = [  # type: ignore[index]
            {"major": 0, "minor": 0, "op": "read", "value": after.block_read},
            {"major": 0, "minor": 0, "op": "write", "value": after.block_write}]
        doc["memory_stats"] = {"usage": after.memory, "stats": {}, "limit": after.memory_limit}
        doc["networks"] = {"eth0": {"rx_bytes": after.net_rx, "rx_packets": 0, "rx_errors": 0, "rx_dropped": 0,
                                    "tx_bytes": after.net_tx, "tx_packets": 0, "tx_errors": 0, "tx_dropped": 0}}
    return doc


def stats(request: Request) -> Response:
    """One document (``stream=false``: two readings a second apart, none with ``one-shot``), or one a second."""
    service = request.engine.container_service
    container = service.get(request.params["id"])
    before, when = None, None
    after, now = service.sample(container), time.time()
    if not request.flag("stream", True):
        if not request.flag("one-shot") and after is not None:
            time.sleep(1)
            before, when = after, now
            after, now = service.sample(service.get(container.id)), time.time()
        return json_response(stats_document(container, before, after, now, when))
    out = request.stream()
    try:
        while True:
            out.json_line(stats_document(container, before, after, now, when))
            time.sleep(1)
            container = service.get(container.id)
            before, when = after, now
            after, now = service.sample(container), time.time()
            if after is None and before is None:
                return HIJACKED
    except OSError:
        return HIJACKED  # the client went away
    except DockyardError:
        return HIJACKED  # removed meanwhile


ROUTES: tuple[Route, ...] = (Route("GET", "/containers/{id:path}/stats", stats),)
