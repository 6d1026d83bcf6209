"""Healthchecks with real containers: the probe's results in ``State.Health``, ``ps`` and the event log.

Intervals are short (1s, Docker's smallest practical) and the containers share the time they wait, so the
module stays within a few seconds of its longest probe sequence."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import Dockyard
from tests.containers.conftest import inspect, wait_until

FAST = ("--network", "none", "--health-interval", "1s", "--health-timeout", "1s")


def _health(dy: Dockyard, name: str) -> dict:  # type: ignore[type-arg]
    return inspect(dy, name)["State"].get("Health") or {}


def _status(dy: Dockyard, name: str) -> str:
    return str(_health(dy, name).get("Status", ""))


def test_probes_pass_fail_time_out_and_start_period(dy: Dockyard) -> None:
    dy("run", "-d", "--name", "ok", *FAST, "--health-cmd", "echo fine", "bb", "sleep", "60")
    dy("run", "-d", "--name", "bad", *FAST, "--health-cmd", "echo nope >&2; exit 1", "--health-retries", "3",
       "bb", "sleep", "60")
    dy("run", "-d", "--name", "slow", *FAST, "--health-cmd", "sleep 5", "--health-retries", "1", "bb", "sleep", "60")
    dy("run", "-d", "--name", "grace", *FAST, "--health-cmd", "exit 1", "--health-retries", "1",
       "--health-start-period", "30s", "bb", "sleep", "60")
    dy("run", "-d", "--name", "bg", *FAST, "--health-cmd", "sleep 30 & echo left", "bb", "sleep", "60")
    dy("run", "-d", "--name", "big", *FAST, "--health-cmd", "head -c 5000 /dev/zero | tr '\\0' x", "bb", "sleep", "60")
    dy("run", "-d", "--name", "later", "--network", "none", "--health-cmd", "true", "--health-interval", "30s",
       "bb", "sleep", "60")  # its first probe is 30s away
    assert "(health: starting)" in dy("ps", "--filter", "name=later", "--format", "{{.Status}}").stdout
    assert "later" in dy("ps", "--filter", "health=starting", "--format", "{{.Names}}").stdout.split()

    assert wait_until(lambda: _status(dy, "ok") == "healthy", 10)
    ok = _health(dy, "ok")
    assert ok["FailingStreak"] == 0 and ok["Log"][-1]["ExitCode"] == 0 and ok["Log"][-1]["Output"] == "fine\n"
    assert dy("ps", "--filter", "name=ok", "--format", "{{.Status}}").stdout.strip().endswith("(healthy)")

    assert wait_until(lambda: _status(dy, "bad") == "unhealthy", 15)
    bad = _health(dy, "bad")
    assert bad["FailingStreak"] >= 3 and {e["ExitCode"] for e in bad["Log"]} == {1}
    assert bad["Log"][0]["Output"] == "nope\n"  # stderr is part of the output
    assert dy("ps", "--filter", "name=bad", "--format", "{{.Status}}").stdout.strip().endswith("(unhealthy)")

    assert wait_until(lambda: _status(dy, "slow") == "unhealthy", 10)
    entry = _health(dy, "slow")["Log"][0]
    assert entry["ExitCode"] == -1 and entry["Output"] == "Health check exceeded timeout (1s)"

    assert wait_until(lambda: _status(dy, "bg") == "healthy", 10)  # a child left holding the pipes: no timeout
    assert _health(dy, "bg")["Log"][0] | {"Start": "", "End": ""} == {"Start": "", "End": "", "ExitCode": 0, "Output": "left\n"}

    big = _health(dy, "big")["Log"][-1]["Output"]
    assert big == "x" * 4096 + "..."  # Docker keeps 4096 bytes of the probe's output

    grace = _health(dy, "grace")  # failures within the start period do not count
    assert grace["Status"] == "starting" and grace["FailingStreak"] == 0 and len(grace["Log"]) >= 2

    listed = dy("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").stdout.split()
    assert sorted(listed) == ["bad", "slow"]
    assert sorted(dy("ps", "--filter", "health=healthy", "--format", "{{.Names}}").stdout.split()) == ["bg", "big", "ok"]

    events = dy("events", "--since", "1m", "--until", "0s", "--filter", "container=bad",
                "--format", "{{json .}}").stdout.splitlines()
    actions = [json.loads(line)["Action"] for line in events]
    assert "health_status: unhealthy" in actions
    assert "exec_create: /bin/sh -c echo nope >&2; exit 1" in actions and "exec_die" in actions
    die = next(json.loads(line) for line in events if json.loads(line)["Action"] == "exec_die")
    assert die["Actor"]["Attributes"]["exitCode"] == "1" and len(die["Actor"]["Attributes"]["execID"]) == 64

    dy("stop", "-t", "0", "bad")  # the result stays after the stop, and the next start begins again
    assert _status(dy, "bad") == "unhealthy"
    assert dy("ps", "-a", "--filter", "name=bad", "--format", "{{.Status}}").stdout.startswith("Exited (137)")
    dy("start", "bad")
    again = _health(dy, "bad")
    assert again["Status"] == "starting" and again["FailingStreak"] == 0 and len(again["Log"]) >= 3


def test_no_healthcheck_and_the_image_healthcheck(dy: Dockyard, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        'FROM bb\nHEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD ["sh", "-c", "test -e /ready"]\n')
    dy("build", "-q", "-t", "checked", str(ctx))
    dy("run", "-d", "--name", "img", "--network", "none", "checked", "sh", "-c", "sleep 1.5; touch /ready; sleep 60")
    dy("run", "-d", "--name", "off", "--network", "none", "--no-healthcheck", "checked", "sleep", "60")
    dy("run", "-d", "--name", "plain", "--network", "none", "bb", "sleep", "60")
    config = inspect(dy, "img")["Config"]["Healthcheck"]
    assert config == {"Test": ["CMD", "sh", "-c", "test -e /ready"], "Interval": 1_000_000_000,
                      "Timeout": 1_000_000_000, "Retries": 1}
    assert inspect(dy, "off")["Config"]["Healthcheck"] == {**config, "Test": ["NONE"]}  # Docker's field-wise merge
    assert "Healthcheck" not in inspect(dy, "plain")["Config"]

    assert wait_until(lambda: _status(dy, "img") == "healthy", 10)
    assert [e["ExitCode"] for e in _health(dy, "img")["Log"]][:2] == [1, 0]  # failed before /ready, then passed
    time.sleep(1.2)
    assert "Health" not in inspect(dy, "off")["State"]
    assert "(" not in dy("ps", "--filter", "name=off", "--format", "{{.Status}}").stdout
    none = dy("ps", "--filter", "health=none", "--format", "{{.Names}}").stdout.split()
    assert sorted(none) == ["off", "plain"]
    actions = [json.loads(line)["Action"] for line in dy(
        "events", "--since", "1m", "--until", "0s", "--filter", "container=img", "--format", "{{json .}}").stdout.splitlines()]
    assert actions.index("health_status: unhealthy") < actions.index("health_status: healthy")
    assert "exec_create: sh -c test -e /ready" in actions

    override = dy("create", "--health-retries", "7", "checked", "true").stdout.strip()
    assert inspect(dy, override)["Config"]["Healthcheck"]["Retries"] == 7  # the flag over the image's, field by field
    assert inspect(dy, override)["Config"]["Healthcheck"]["Test"][0] == "CMD"




def test_bad_health_flags_are_refused_as_docker_refuses_them(dy: Dockyard) -> None:
    # one of each kind here (the daemon's checks of every field: tests/unit/test_health_rules.py)
    cases = {
        ("--health-interval", "x"): ('invalid argument "x" for "--health-interval" flag: time: invalid duration "x"', 125),
        ("--health-retries", "x"): ('invalid argument "x" for "--health-retries" flag: strconv.ParseInt: parsing "x": '
                                    "invalid syntax", 125),
        ("--health-interval=-1s",): ("dockyard: --health-interval cannot be negative.", 125),
        ("--health-retries=-1",): ("dockyard: --health-retries cannot be negative.", 125),
        ("--no-healthcheck", "--health-cmd=true"): ("dockyard: --no-healthcheck conflicts with --health-* options.", 125),
        # the daemon's answer to ``create``, as Docker 28's CLI prints it: no prefix, no period, exit 1
        ("--health-interval", "100us"): ("Error response from daemon: Interval in Healthcheck cannot be less than 1ms", 1),
        ("--health-start-period", "100us"): ("Error response from daemon: StartPeriod in Healthcheck cannot be less than "
                                             "1ms", 1),
    }
    for flags, (message, code) in cases.items():
        r = dy("create", *flags, "bb", "true", check=False)
        assert (r.returncode, r.stderr.splitlines()[0]) == (code, message), flags
    r = dy("ps", "--filter", "health=foo", check=False)
    assert (r.returncode, r.stderr.strip()) == (1, "Error response from daemon: Unrecognised filter value for health: foo")
    assert dy("ps", "-aq").stdout == ""
