"""Network commands (``network create/ls/rm/inspect/prune``, ``port``), the networking flags of
``run``/``create``, and the network parts of ``ps`` and ``inspect``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli.context import EXIT_ERROR, Context, UsageError, confirm, require_args
from dockyard.cli.format import render, to_json
from dockyard.errors import DockyardError, NotFoundError

LS_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
              "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}
DEFAULT_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.driver.mtu": "1500",
}  # fmt: skip


# port ------------------------------------------------------------------------------


def _port_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER [PRIVATE_PORT[/PROTO]]")
    p.set_defaults(handler=port_cmd)


def port_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.runtime.network.ports import sort_key

    require_args(args, "port", 1)
    require_args(args, "port", 2, at_most=True)
    from dockyard.engine.container_json import published_ports

    service = ctx.engine.container_service
    ports = published_ports(ctx.engine, service.get(args.args[0]))
    if len(args.args) == 2:
        port, _, proto = args.args[1].partition("/")
        key = f"{port}/{proto or 'tcp'}"
        if not ports.get(key):
            print(f"Error: No public port '{key}' published for {args.args[0]}", file=sys.stderr)
            return EXIT_ERROR
        for h in ports[key]:
            print(f"{h['HostIp']}:{h['HostPort']}")
        return 0
    for key in sorted(ports, key=sort_key):
        for h in ports[key] or []:
            print(f"{key} -> {h['HostIp']}:{h['HostPort']}")
    return 0


# network ---------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction) -> None:
    from dockyard.cli.context import Parser

    _port_args(commands.add_parser("port", prog="dockyard port"))
    network = commands.add_parser("network", prog="dockyard network", help="Manage networks")
    sub = network.add_subparsers(dest="network_command", metavar="COMMAND", parser_class=Parser)
    for name, setup in (("create", _create_args), ("ls", _ls_args), ("rm", _rm_args), ("inspect", _inspect_args),
                        ("prune", _prune_args), ("connect", _connect_args), ("disconnect", _disconnect_args)):
        setup(sub.add_parser(name, prog=f"dockyard network {name}"))
    sub.choices["list"] = sub.choices["ls"]
    sub.choices["remove"] = sub.choices["rm"]


def _create_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NETWORK")
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--subnet", action="append", default=[])
    p.add_argument("--gateway", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--internal", action="store_true")
    p.add_argument("--attachable", action="store_true")
    p.set_defaults(handler=create_cmd)


def create_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.runtime.network.store import NetworkSpec

    require_args(args, "network create", 1, exact=True)
    if len(args.subnet) > 1 or len(args.gateway) > 1:
        raise UsageError("dockyard: only one --subnet and one --gateway are supported", EXIT_ERROR)
    labels = dict((lbl.split("=", 1) + [""])[:2] for lbl in args.label)
    spec = NetworkSpec(args.args[0], args.driver, (args.subnet or [None])[0], (args.gateway or [None])[0],
                       args.internal, labels)
    if spec.gateway and not spec.subnet:
        print("every ip-range or gateway must have a corresponding subnet", file=sys.stderr)
        return EXIT_ERROR
    print(ctx.engine.networking.networks.create(spec).id)
    return 0


def _ls_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format", default="")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.set_defaults(handler=ls_cmd)


def _matches(net: Any, filters: list[str]) -> bool:
    for f in filters:
        key, _, value = f.partition("=")
        ok = {"name": value in net.name, "id": net.id.startswith(value), "driver": net.driver == value,
              "type": (value == "builtin") == net.predefined,
              "label": value.partition("=")[0] in net.labels and (not value.partition("=")[1]
                                                                  or net.labels[value.partition("=")[0]] == value.partition("=")[2])}
        if key not in ok:
            raise UsageError(f"Error response from daemon: Invalid filter '{key}'", EXIT_ERROR)
        if not ok[key]:
            return False
    return True


def ls_cmd(ctx: Context, args: argparse.Namespace) -> int:
    nets = [n for n in ctx.engine.networking.networks.list() if _matches(n, args.filter)]
    if args.quiet:
        sys.stdout.write("".join((n.id if args.no_trunc else n.id[:12]) + "\n" for n in nets))
        return 0
    rows = [{"ID": n.id if args.no_trunc else n.id[:12], "Name": n.name, "Driver": n.driver, "Scope": "local",
             "IPv6": "false", "Internal": str(n.internal).lower(), "CreatedAt": n.created,
             "Labels": ",".join(f"{k}={v}" for k, v in n.labels.items())} for n in nets]
    sys.stdout.write(render(args.format or LS_FORMAT, rows, LS_HEADERS))
    return 0


def _rm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NETWORK")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(handler=rm_cmd)


def _active(ctx: Context, net: Any) -> list[str]:
    """Running containers on ``net`` (asking corrects those whose monitor died)."""
    out = []
    for ep in ctx.engine.networking.sandboxes.members(net.name):
        try:
            if ctx.engine.containers.get(ep.container_id).running:
                out.append(ep.container_id)
        except NotFoundError:
            continue
    return out


def rm_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "network rm", 1)
    failed = False
    store = ctx.engine.networking.networks
    for name in args.args:
        try:
            net = store.get(name)
        except NotFoundError:
            print(f"Error: No such network: {name}", file=sys.stderr)
            failed = True
            continue
        try:
            store.remove(net, _active(ctx, net))
            print(name)
        except DockyardError as exc:
            print(f"Error response from daemon: {exc}", file=sys.stderr)
            failed = True
    return EXIT_ERROR if failed else 0


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NETWORK")
    p.add_argument("-f", "--format", default="")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(handler=inspect_cmd)


def inspect_network(ctx: Context, net: Any) -> dict[str, Any]:
    networks = ctx.engine.networking.networks
    if net.name == "bridge":
        net = networks.ensure(net)
    ipam: list[dict[str, str]] = []
    if net.subnet:
        ipam = [{"Subnet": net.subnet, **({} if net.config.get("subnet_given") and not net.config.get("gateway_given")
                                          else {"Gateway": net.gateway})}]
    members = {ep.container_id: {"Name": ep.name, "EndpointID": ep.container_id[:12] + net.id[:52],
                                 "MacAddress": ep.mac, "IPv4Address": f"{ep.ip}/{ep.prefix}", "IPv6Address": ""}
               for ep in ctx.engine.networking.sandboxes.members(net.name)}
    options = {**DEFAULT_BRIDGE_OPTIONS, "com.docker.network.bridge.name": net.bridge} if net.name == "bridge" else {}
    return {
        "Name": net.name, "Id": net.id, "Created": net.created, "Scope": "local", "Driver": net.driver,
        "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None if net.predefined else {}, "Config": ipam},
        "Internal": net.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": dict(sorted(members.items())), "Options": dict(sorted(options.items())),
        "Labels": net.labels,
    }


def inspect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "network inspect", 1)
    found, missing = [], []
    for name in args.args:
        try:
            found.append(inspect_network(ctx, ctx.engine.networking.networks.get(name)))
        except NotFoundError:
            missing.append(name)
    sys.stdout.write(render(args.format, found, {}) if args.format else to_json(found) + "\n")
    for name in missing:
        print(f"Error: No such network: {name}", file=sys.stderr)
    return EXIT_ERROR if missing else 0


def _prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(handler=prune_cmd)


def prune_cmd(ctx: Context, args: argparse.Namespace) -> int:
    if not args.force and not confirm("WARNING! This will remove all custom networks not used by at least one container."):
        return 0
    store = ctx.engine.networking.networks
    deleted = []
    for net in store.list():
        if not net.predefined and _matches(net, args.filter) and not _active(ctx, net):
            store.remove(net, [])
            deleted.append(net.name)
    if deleted:
        sys.stdout.write("Deleted Networks:\n" + "".join(n + "\n" for n in deleted) + "\n")
    return 0


def _connect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NETWORK CONTAINER")
    p.add_argument("--alias", action="append", default=[])
    p.set_defaults(handler=connect_cmd)


def connect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    """Running: a new interface now; stopped: from the next start on."""
    require_args(args, "network connect", 2, exact=True)
    c = ctx.engine.containers.get(args.args[1])
    ctx.engine.networking.connect(c.id, c.name, c.record, args.args[0], tuple(args.alias), c.running)
    return 0


def _disconnect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NETWORK CONTAINER")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(handler=disconnect_cmd)


def disconnect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "network disconnect", 2, exact=True)
    c = ctx.engine.containers.get(args.args[1])
    ctx.engine.networking.disconnect(c.id, c.record, args.args[0], c.running)
    return 0
