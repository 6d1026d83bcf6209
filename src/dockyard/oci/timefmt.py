"""Times as the OCI documents and Docker's output write them (RFC 3339, Go's layouts).

Apart from ``config`` so that commands printing times do not create the config's record types.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime, timedelta, timezone

INT64_MIN = -(2**63)


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


# go-units' HumanDuration (the version Docker 20.10 vendors): ``ps`` STATUS, ``images`` CREATED


def _to_nanoseconds(duration: float | timedelta) -> int:
    if isinstance(duration, timedelta):
        ns = (duration.days * 86400 + duration.seconds) * 10**9 + duration.microseconds * 1000
    elif not math.isfinite(duration):
        ns = INT64_MIN
    else:
        # Rounding (not Go's truncation) keeps 0.3s from turning into 299999999ns.
        ns = round(duration * 1e9)
    # time.Duration is an int64; Go's out-of-range conversion yields MinInt64 on amd64.
    return ns if INT64_MIN <= ns < 2**63 else INT64_MIN


def _go_units(ns: int, unit: int) -> float:
    """time.Duration.Seconds/Minutes/Hours: whole part plus fraction, as Go sums them."""
    whole = abs(ns) // unit
    frac = abs(ns) % unit
    sign = -1 if ns < 0 else 1
    return sign * (float(whole) + float(frac) / float(unit))


def human_duration(duration: float | timedelta) -> str:
    """HumanDuration for a duration in seconds (or a timedelta).

    E.g. 90 -> "About a minute", 5400 -> "2 hours", 3 days -> "3 days".
    """
    ns = _to_nanoseconds(duration)
    seconds = int(_go_units(ns, 10**9))
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = int(_go_units(ns, 60 * 10**9))
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    exact_hours = _go_units(ns, 3600 * 10**9)
    hours = int(exact_hours + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(exact_hours) // 24 // 365} years"
