"""Docker's defaults for a Linux container's runtime spec that ``inspect`` also prints (moby oci/defaults.go).

Apart from ``runtime.spec`` so that ``inspect`` of a container shows them without loading the spec builder.
"""

from __future__ import annotations

MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
)
READONLY_PATHS: tuple[str, ...] = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
