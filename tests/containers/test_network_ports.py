"""``-p``/``--expose``/``--add-host`` parsing and the PORTS column, as Docker's nat package and CLI have them."""

from __future__ import annotations

import pytest

from dockyard.engine.network_json import ps_ports
from dockyard.errors import InvalidArgumentError
from dockyard.runtime.network.hosts import parse_extra_host, render
from dockyard.runtime.network.ports import (
    PortBinding,
    from_port_bindings,
    network_ports,
    parse_expose,
    parse_publish,
    port_bindings,
)


@pytest.mark.parametrize("spec, expected", [
    ("80", [PortBinding(80)]),
    ("8080:80", [PortBinding(80, "tcp", "", 8080)]),
    ("0:80", [PortBinding(80)]),
    ("127.0.0.1:8080:80/udp", [PortBinding(80, "udp", "127.0.0.1", 8080)]),
    ("127.0.0.1::80", [PortBinding(80, "tcp", "127.0.0.1", 0)]),
    ("[::1]:8080:80", [PortBinding(80, "tcp", "::1", 8080)]),
    ("8000-8001:80-81", [PortBinding(80, "tcp", "", 8000), PortBinding(81, "tcp", "", 8001)]),
    ("8000-8010:80", [PortBinding(80, "tcp", "", 8000, 8010)]),
    ("90-91", [PortBinding(90), PortBinding(91)]),
    ("53/UDP", [PortBinding(53, "udp")]),
])
def test_publish_specs(spec: str, expected: list[PortBinding]) -> None:
    assert parse_publish(spec) == expected
    assert from_port_bindings(port_bindings(expected)) == expected  # what HostConfig.PortBindings keeps


@pytest.mark.parametrize("spec, message", [
    ("abc", "Invalid containerPort: abc"),
    ("x:80", "Invalid hostPort: x"),
    ("99999:80", "Invalid hostPort: 99999"),
    ("80/xyz", "Invalid proto: xyz"),
    ("8000-8002:80-81", "Invalid ranges specified for container and host Ports: 80-81 and 8000-8002"),
    ("", "No port specified: <empty>"),
    ("1.2.3:80:80", "Invalid ip address: 1.2.3"),
])
def test_publish_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        parse_publish(spec)
    assert str(err.value) == message


def test_expose_and_ports_column() -> None:
    assert parse_expose("7000-7001/udp") == ["7000/udp", "7001/udp"]
    ports = network_ports([{"hostIP": "", "hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
                           {"hostIP": "::", "hostPort": 8080, "containerPort": 80, "protocol": "tcp"}], ["443/tcp", "80/tcp"])
    assert ports == {"443/tcp": None, "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}]}
    assert ps_ports(ports) == "443/tcp, 0.0.0.0:8080->80/tcp, :::8080->80/tcp"  # as Docker 20.10 orders them


def test_extra_hosts() -> None:
    assert parse_extra_host("db:10.0.0.5") == ("db", "10.0.0.5")
    assert parse_extra_host("v6:[fd00::1]") == ("v6", "fd00::1")
    with pytest.raises(InvalidArgumentError, match='bad format for add-host: "db"'):
        parse_extra_host("db")
    with pytest.raises(InvalidArgumentError, match='invalid IP address in add-host: "nope"'):
        parse_extra_host("db:nope")
    assert render("127.0.0.1\tlocalhost\n", ["db:10.0.0.5"], ["172.18.0.2"], "box") == (
        "127.0.0.1\tlocalhost\n10.0.0.5\tdb\n172.18.0.2\tbox\n")
