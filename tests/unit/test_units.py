"""go-units v0.4.0 (what Docker 20.10 vendors); expected values come from running the Go code."""

from __future__ import annotations

import datetime

import pytest

from dockyard.cli.units import (
    GiB,
    KiB,
    MiB,
    PiB,
    TiB,
    bytes_size,
    from_human_size,
    human_duration,
    human_size,
    human_size_with_precision,
    ram_in_bytes,
)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0B"),
        (1, "1B"),
        (999, "999B"),
        (1000, "1kB"),
        (1024, "1.024kB"),
        (999999, "1000kB"),  # rounds to 4 digits after picking the unit, like Go
        (1000000, "1MB"),
        (1240000, "1.24MB"),
        (1048576, "1.049MB"),
        (3.42 * 1000**3, "3.42GB"),
        (5.372 * 1000**4, "5.372TB"),
        (1e15, "1PB"),
        (1e27, "1000YB"),
        (10000000000000 * 1000**5, "1e+04YB"),
        (0.5, "0.5B"),
        (-1000, "-1000B"),  # negative sizes never switch units
        (float("inf"), "+InfYB"),
        (float("nan"), "NaNB"),
    ],
)
def test_human_size(size: float, expected: str) -> None:
    assert human_size(size) == expected


@pytest.mark.parametrize(
    ("size", "precision", "expected"),
    [
        (1234567, 3, "1.23MB"),
        (1234567, 0, "1MB"),
        (1234567, 6, "1.23457MB"),
        (999.95, 20, "999.95000000000004547B"),
        (1234567, -1, "%!(BADPREC)1.234567MB"),
    ],
)
def test_human_size_with_precision(size: float, precision: int, expected: str) -> None:
    assert human_size_with_precision(size, precision) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1KiB"),
        (1024 * 1024, "1MiB"),
        (2 * MiB, "2MiB"),
        (3.42 * GiB, "3.42GiB"),
        (5.372 * TiB, "5.372TiB"),
        (2.22 * PiB, "2.22PiB"),
        (KiB**5 * PiB, "1.049e+06YiB"),
    ],
)
def test_bytes_size(size: float, expected: str) -> None:
    assert bytes_size(size) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.45, "Less than a second"),
        (-5, "Less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (59.9, "59 seconds"),
        (60, "About a minute"),
        (90, "About a minute"),
        (119, "About a minute"),
        (180, "3 minutes"),
        (35 * 60 + 40, "35 minutes"),
        (59 * 60, "59 minutes"),
        (3600, "About an hour"),
        (3600 + 29 * 60, "About an hour"),
        (5400, "2 hours"),  # hours are rounded from here on
        (3 * 3600 + 31 * 60, "4 hours"),
        (24 * 3600, "24 hours"),
        (47 * 3600 + 29 * 60, "47 hours"),
        (48 * 3600, "2 days"),
        (13 * 86400 + 5 * 3600, "13 days"),
        (14 * 86400, "2 weeks"),
        (3 * 7 * 86400, "3 weeks"),
        (60 * 86400, "2 months"),
        (5 * 30 * 86400 + 14 * 86400, "5 months"),
        (23 * 30 * 86400, "23 months"),
        (730 * 86400, "2 years"),
        (3 * 365 * 86400 + 60 * 86400, "3 years"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_human_duration_takes_a_timedelta() -> None:
    assert human_duration(datetime.timedelta(minutes=3, seconds=10)) == "3 minutes"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("32", 32),
        ("32b", 32),
        ("32B", 32),
        ("32k", 32 * 1000),
        ("32K", 32 * 1000),
        ("32kb", 32 * 1000),
        ("32Kb", 32 * 1000),
        ("32KiB", 32 * 1000),
        ("32Mb", 32 * 1000**2),
        ("32Gb", 32 * 1000**3),
        ("32Tb", 32 * 1000**4),
        ("32Pb", 32 * 1000**5),
        ("32.5kB", 32500),
        ("32.5 kB", 32500),
        ("32.5 B", 32),
    ],
)
def test_from_human_size(text: str, expected: int) -> None:
    assert from_human_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("32", 32),
        ("32k", 32 * KiB),
        ("32Kib", 32 * KiB),
        ("32KIB", 32 * KiB),
        ("32m", 32 * MiB),
        ("32Gb", 32 * GiB),
        ("32Tb", 32 * TiB),
        ("32PB", 32 * PiB),
        ("32P", 32 * PiB),
        ("32.3", 32),
        ("32.3 mb", int(32.3 * MiB)),
        ("10000P", -(2**63)),  # Go's int64 conversion overflows
    ],
)
def test_ram_in_bytes(text: str, expected: int) -> None:
    assert ram_in_bytes(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid size: ''"),
        ("hello", "invalid size: 'hello'"),
        ("-32", "invalid size: '-32'"),
        (".3kB", "invalid size: '.3kB'"),
        (" 32 ", "invalid size: ' 32 '"),
        ("32m b", "invalid size: '32m b'"),
        ("32bm", "invalid size: '32bm'"),
        ("１２", "invalid size: '１２'"),  # only ASCII digits
        ("1.2.3", 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
    ],
)
@pytest.mark.parametrize("parse_size", [from_human_size, ram_in_bytes])
def test_size_parse_errors(parse_size, text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_size(text)
    assert str(err.value) == message
