"""ps --filter, -n and -l, and logs --tail/-t/--since/--until, as Docker 20.10 answers for the same containers."""

from __future__ import annotations

from tests.conftest import Dockyard


def names(dy: Dockyard, *flags: str) -> list[str]:
    return dy("ps", "--format", "{{.Names}}", *flags).stdout.split()


def test_ps_filters_as_docker(dy: Dockyard) -> None:
    dy("run", "--name", "aa", "--label", "x=1", "bb", "true")
    dy("run", "-d", "--name", "bb1", "-v", "vol1:/data", "bb", "sleep", "100")
    dy("run", "--name", "cc", "--network", "none", "bb", "false", check=False)

    assert names(dy, "-f", "status=exited") == ["cc", "aa"]  # a status filter looks at stopped ones without -a
    assert names(dy, "-f", "status=running") == ["bb1"]
    assert names(dy, "-f", "exited=1") == []  # exited needs -a
    assert names(dy, "-a", "-f", "exited=1") == ["cc"]
    assert names(dy, "-a", "-f", "exited=1", "-f", "exited=0") == ["cc", "aa"]
    assert names(dy, "-a", "-f", "name=^/aa") == ["aa"]
    assert names(dy, "-a", "-f", "name=b") == ["bb1"]
    assert names(dy, "-a", "-f", "id=(") == []  # a pattern that does not compile matches nothing
    assert names(dy, "-a", "-f", "label=x") == ["aa"]
    assert names(dy, "-a", "-f", "label=x=2") == []
    assert names(dy, "-n", "1") == ["cc"] and names(dy, "-l") == ["cc"]
    assert names(dy, "-f", "ancestor=bb") == ["bb1"]
    assert names(dy, "-f", "ancestor=nope") == []
    assert names(dy, "-f", "since=aa") == ["bb1"]
    assert names(dy, "-a", "-f", "before=cc") == ["bb1", "aa"]
    assert names(dy, "-a", "-f", "volume=vol1") == names(dy, "-a", "-f", "volume=/data") == ["bb1"]
    assert names(dy, "-a", "-f", "network=none") == ["cc"]
    cid = dy("ps", "-aq", "--no-trunc", "-f", "name=cc").stdout.strip()
    assert names(dy, "-a", "-f", f"id={cid[:10]}") == ["cc"]


def test_ps_bad_filters(dy: Dockyard) -> None:
    for flag, message in (("status=foo", "Invalid filter 'status=foo'"), ("bogus=1", "Invalid filter 'bogus'"),
                          ("exited=x", 'strconv.Atoi: parsing "x": invalid syntax')):
        r = dy("ps", "-f", flag, check=False)
        assert (r.returncode, r.stderr) == (1, f"Error response from daemon: {message}\n")


def test_logs_tail_timestamps_since(dy: Dockyard) -> None:
    dy("run", "--name", "l1", "--network", "none", "bb", "sh", "-c", "echo one; echo two; echo three")
    assert dy("logs", "--tail", "2", "l1").stdout == "two\nthree\n"
    assert dy("logs", "-n", "1", "l1").stdout == "three\n"
    assert dy("logs", "--tail", "0", "l1").stdout == ""
    assert dy("logs", "--tail", "x", "l1").stdout == dy("logs", "--tail", "-1", "l1").stdout == "one\ntwo\nthree\n"
    stamped = dy("logs", "-t", "--tail", "1", "l1").stdout
    stamp, _, text = stamped.partition(" ")
    assert text == "three\n" and len(stamp) == len("2026-11-28T22:38:38.161185924Z") and stamp.endswith("Z")
    assert dy("logs", "--since", "1h", "l1").stdout == "one\ntwo\nthree\n"
    assert dy("logs", "--until", "1h", "l1").stdout == ""
    r = dy("logs", "--since", "bogus", "l1", check=False)
    assert (r.returncode, r.stderr) == (1, 'invalid value for "since": failed to parse value as time or duration: "bogus"\n')
