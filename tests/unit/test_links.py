"""Legacy links as data (``runtime.links``): Docker's ParseLink, Docker 20.10's link variables (moby
daemon/links/links.go at v20.10.24) and the hosts entries of a link."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgumentError
from dockyard.runtime.links import Link, Linked, hosts_entries, link_env, parse_link


def test_parse_link_as_docker() -> None:
    assert parse_link("db:alias") == ("db", "alias")
    assert parse_link("db") == ("db", "db")
    assert parse_link("/db:/web/alias") == ("db", "alias")  # a HostConfig copied from inspect
    for bad, message in (("", "empty string specified for links"), ("a:b:c", "bad format for links: a:b:c")):
        with pytest.raises(InvalidArgumentError, match=message):
            parse_link(bad)
    assert Link.parse("f" * 64 + ":db") == Link("f" * 64, "db") and Link("x", "db").stored() == "x:db"


def test_variables_of_docker_20_10_with_a_range() -> None:
    child = Linked("/web/my-db", "db1", "kid", "10.0.0.2", ("FOO=1", "PATH=/bin", "HOME=/root", "BARE"),
                   ("53/udp", "8001/tcp", "8000/tcp", "8002/tcp", "80/tcp"))
    assert link_env(child) == [
        "MY_DB_PORT=udp://10.0.0.2:53",  # the lowest number first, whatever the protocol
        "MY_DB_PORT_8000_TCP_START=tcp://10.0.0.2:8000", "MY_DB_PORT_8000_TCP_ADDR=10.0.0.2",
        "MY_DB_PORT_8000_TCP_PROTO=tcp", "MY_DB_PORT_8000_TCP_PORT_START=8000",
        "MY_DB_PORT_8000_TCP_END=tcp://10.0.0.2:8002", "MY_DB_PORT_8000_TCP_PORT_END=8002",
        "MY_DB_PORT_53_UDP=udp://10.0.0.2:53", "MY_DB_PORT_53_UDP_ADDR=10.0.0.2", "MY_DB_PORT_53_UDP_PORT=53",
        "MY_DB_PORT_53_UDP_PROTO=udp",
        "MY_DB_PORT_80_TCP=tcp://10.0.0.2:80", "MY_DB_PORT_80_TCP_ADDR=10.0.0.2", "MY_DB_PORT_80_TCP_PORT=80",
        "MY_DB_PORT_80_TCP_PROTO=tcp",
        *(f"MY_DB_PORT_{n}_TCP{s}" for n in (8000, 8001, 8002)
          for s in (f"=tcp://10.0.0.2:{n}", "_ADDR=10.0.0.2", f"_PORT={n}", "_PROTO=tcp")),
        "MY_DB_NAME=/web/my-db", "MY_DB_ENV_FOO=1",
    ]


def test_hosts_entries_name_the_child_once() -> None:
    named = Linked("/web/db", "db", "kid", "10.0.0.2", (), ())
    aliased = Linked("/web/cache", "redis", "", "10.0.0.3", (), ())
    assert hosts_entries([named, aliased]) == ["db kid:10.0.0.2", "cache redis:10.0.0.3"]
