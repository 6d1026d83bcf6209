"""Request metrics in Prometheus' text format: counts, bytes and latencies per endpoint.

Per process: with several workers each one reports its own counters (a scraper
that wants totals sums over ``process`` labels).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

# Latency histogram buckets, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Metrics:
    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    bytes_sent: Counter[str] = field(default_factory=Counter)
    bytes_received: Counter[str] = field(default_factory=Counter)
    latency_buckets: Counter[tuple[str, float]] = field(default_factory=Counter)
    latency_sum: Counter[str] = field(default_factory=Counter)
    latency_count: Counter[str] = field(default_factory=Counter)

    def observe(self, endpoint: str, method: str, status: int, seconds: float, sent: int, received: int) -> None:
        self.requests[(endpoint, method, status)] += 1
        self.bytes_sent[endpoint] += sent
        self.bytes_received[endpoint] += received
        self.latency_sum[endpoint] += seconds
        self.latency_count[endpoint] += 1
        for bound in BUCKETS:
            if seconds <= bound:
                self.latency_buckets[(endpoint, bound)] += 1

    def render(self, storage_ops: Counter[str] | None = None) -> str:
        pid = os.getpid()
        lines = [
            "# HELP registry_http_requests_total Requests served, by endpoint, method and status.",
            "# TYPE registry_http_requests_total counter",
        ]
        for (endpoint, method, status), n in sorted(self.requests.items()):
            lines.append(f'registry_http_requests_total{{endpoint="{endpoint}",method="{method}",status="{status}",process="{pid}"}} {n}')
        for name, counter, text in (
            ("registry_http_response_bytes_total", self.bytes_sent, "Response body bytes"),
            ("registry_http_request_bytes_total", self.bytes_received, "Request body bytes"),
        ):
            lines += [f"# HELP {name} {text}, by endpoint.", f"# TYPE {name} counter"]
            lines += [f'{name}{{endpoint="{e}",process="{pid}"}} {n}' for e, n in sorted(counter.items())]
        lines += [
            "# HELP registry_http_request_duration_seconds Request latency, by endpoint.",
            "# TYPE registry_http_request_duration_seconds histogram",
        ]
        for endpoint in sorted(self.latency_count):
            for bound in BUCKETS:
                n = self.latency_buckets[(endpoint, bound)]
                lines.append(f'registry_http_request_duration_seconds_bucket{{endpoint="{endpoint}",le="{bound}",process="{pid}"}} {n}')
            count = self.latency_count[endpoint]
            lines.append(f'registry_http_request_duration_seconds_bucket{{endpoint="{endpoint}",le="+Inf",process="{pid}"}} {count}')
            lines.append(f'registry_http_request_duration_seconds_sum{{endpoint="{endpoint}",process="{pid}"}} {self.latency_sum[endpoint]:.6f}')
            lines.append(f'registry_http_request_duration_seconds_count{{endpoint="{endpoint}",process="{pid}"}} {count}')
        if storage_ops is not None:
            lines += ["# HELP registry_storage_operations_total Storage driver calls, by operation.", "# TYPE registry_storage_operations_total counter"]
            lines += [f'registry_storage_operations_total{{op="{op}",process="{pid}"}} {n}' for op, n in sorted(storage_ops.items())]
        return "\n".join(lines) + "\n"
