"""The healthcheck's pure rules: Go durations, Docker's merge and checks, the output limit, the probe's argv."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgumentError
from dockyard.metadata.container_record import HealthConfig
from dockyard.runtime.health import LimitedOutput, go_duration, merged, parse_duration, probe_args


def test_go_durations_parse_and_print_as_go_does() -> None:
    assert [parse_duration(v) for v in ("1s", "1.5s", "100ms", "1m30s", "-2s", "0", "250us")] == [
        10**9, 1_500_000_000, 10**8, 90 * 10**9, -2 * 10**9, 0, 250_000]
    for bad, message in (("x", 'time: invalid duration "x"'), ("10", 'time: missing unit in duration "10"'), ("", 'time: invalid duration ""')):
        with pytest.raises(InvalidArgumentError, match=message):
            parse_duration(bad)
    assert [go_duration(v) for v in (10**9, 1_500_000_000, 90 * 10**9, 2 * 10**6, 3600 * 10**9)] == [
        "1s", "1.5s", "1m30s", "2ms", "1h0m0s"]


def test_flags_override_the_image_field_by_field_and_docker_checks_the_result() -> None:
    image = {"Test": ["CMD", "true"], "Interval": 10**9, "Retries": 2}
    assert merged(None, image) == HealthConfig(("CMD", "true"), 10**9, 0, 0, 2)
    assert merged(HealthConfig(retries=5), image) == HealthConfig(("CMD", "true"), 10**9, 0, 0, 5)
    assert merged(HealthConfig(("NONE",)), image).disabled  # type: ignore[union-attr]
    assert merged(None, None) is None
    for field, message in (("interval", "Interval in Healthcheck cannot be less than 1ms"),
                           ("timeout", "Timeout in Healthcheck cannot be less than 1ms"),
                           ("start_period", "StartPeriod in Healthcheck cannot be less than 1ms")):
        with pytest.raises(InvalidArgumentError, match=message):
            merged(HealthConfig(("CMD", "true"), **{field: 500}), None)
    assert HealthConfig(("CMD-SHELL", "x"), 10**9).document() == {"Test": ["CMD-SHELL", "x"], "Interval": 10**9}


def test_output_is_cut_at_4096_bytes_and_probes_run_through_the_shell() -> None:
    out = LimitedOutput()
    out.write(b"a" * 4000)
    out.write(b"b" * 200)
    assert out.text() == "a" * 4000 + "b" * 96 + "..."
    assert probe_args(HealthConfig(("CMD-SHELL", "echo hi"))) == ["/bin/sh", "-c", "echo hi"]
    assert probe_args(HealthConfig(("CMD-SHELL", "x")), ["/bin/bash", "-ec"]) == ["/bin/bash", "-ec", "x"]
    assert probe_args(HealthConfig(("CMD", "ls", "-l"))) == ["ls", "-l"]
