"""Times as the OCI documents and Docker's output write them (RFC 3339, Go's layouts).

Apart from ``config`` so that commands printing times do not create the config's record types.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone


def parse_time(value: str) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Go's output) to an aware datetime."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python keeps microseconds: cut the fraction to six digits, keep the offset after it
    match = re.fullmatch(r"([^.]+)\.(\d+)(.*)", text)
    if match:
        text = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def format_time(moment: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    moment = moment.astimezone(timezone.utc)
    frac = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def rfc3339_nano(ns: int | None = None) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 10**9)
    base = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"
