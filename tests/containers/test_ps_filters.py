"""ps --filter, -n and -l, with the answers Docker 20.10 gives for the same containers."""

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
