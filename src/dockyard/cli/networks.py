"""Network commands (``network create/ls/rm/inspect/prune/connect/disconnect``, ``port``): flags in,
one call to the network service, output."""

from __future__ import annotations

import argparse
import sys

from dockyard.cli.context import EXIT_ERROR, Context, UsageError, confirm, require_args
from dockyard.cli.format import render, render_inspect, to_json
from dockyard.engine.networks import IpamPool, NetworkFilters, NetworkSpec, endpoint_request
from dockyard.errors import DockyardError, NotFoundError

LS_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
              "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


# port ------------------------------------------------------------------------------


def _port_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER [PRIVATE_PORT[/PROTO]]")
    p.set_defaults(handler=port_cmd)


def port_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine.network_json import port_sort_key

    require_args(args, "port", 1)
    require_args(args, "port", 2, at_most=True)
    ports = ctx.engine.network_service.ports(args.args[0])
    if len(args.args) == 2:
        port, _, proto = args.args[1].partition("/")
        key = f"{port}/{proto or 'tcp'}"
        if not ports.get(key):
            print(f"Error: No public port '{key}' published for {args.args[0]}", file=sys.stderr)
            return EXIT_ERROR
        for h in ports[key] or []:
            print(f"{h['HostIp']}:{h['HostPort']}")
        return 0
    for key in sorted(ports, key=port_sort_key):
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
    p.add_argument("--ip-range", action="append", default=[])
    p.add_argument("--gateway", action="append", default=[])
    p.add_argument("--aux-address", action="append", default=[])
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("--ipam-driver", default="default")
    p.add_argument("--ipam-opt", action="append", default=[])
    p.add_argument("--ipv6", action="store_true")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--internal", action="store_true")
    p.add_argument("--attachable", action="store_true")
    p.set_defaults(handler=create_cmd)


def _key_values(values: list[str]) -> dict[str, str]:
    return dict((v.split("=", 1) + [""])[:2] for v in values)


def create_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "network create", 1, exact=True)
    if args.ipam_driver != "default":
        print(f'Error response from daemon: plugin "{args.ipam_driver}" not found', file=sys.stderr)
        return EXIT_ERROR
    try:
        pools = ipam_pools(args.subnet, args.ip_range, args.gateway, _key_values(args.aux_address))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    spec = NetworkSpec(args.args[0], args.driver, pools, args.internal, _key_values(args.label),
                       _key_values(args.opt), args.ipv6, _key_values(args.ipam_opt))
    print(ctx.engine.network_service.create(spec).id)
    return 0


def _contains(subnet: str, address: str) -> bool:
    """Whether ``address`` (an address or a CIDR) lies in ``subnet``, as Docker's client matches them."""
    import ipaddress

    try:
        net = ipaddress.ip_network(subnet, strict=False)
        other = ipaddress.ip_network(address, strict=False)
    except ValueError as exc:
        raise ValueError(f"invalid CIDR address: {exc}") from None
    return other.version == net.version and other.subnet_of(net)  # type: ignore[arg-type]


def ipam_pools(subnets: list[str], ranges: list[str], gateways: list[str], aux: dict[str, str]) -> tuple[IpamPool, ...]:
    """``--subnet``, ``--ip-range``, ``--gateway``, ``--aux-address`` matched to their subnets as Docker's client
    does (its consolidateIpam, with its messages as ValueError)."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise ValueError("every ip-range or gateway must have a corresponding subnet")
    for i, s in enumerate(subnets):
        if any(_contains(s, t) or _contains(t, s) for t in subnets[:i]):
            raise ValueError("multiple overlapping subnet configuration is not supported")
    chosen: dict[str, dict[str, str]] = {"range": {}, "gateway": {}}
    for what, values, words in (("range", ranges, "cannot configure multiple ranges ({}, {}) on the same subnet ({})"),
                                ("gateway", gateways, "cannot configure multiple gateways ({}, {}) for the same subnet ({})")):
        for value in values:
            matched = [s for s in subnets if _contains(s, value)]
            if not matched:
                raise ValueError(f"no matching subnet for {what} {value}")
            for s in matched:
                if s in chosen[what]:
                    raise ValueError(words.format(value, chosen[what][s], s))
                chosen[what][s] = value
    aux_of: dict[str, dict[str, str]] = {s: {} for s in subnets}
    for name, address in aux.items():
        matched = [s for s in subnets if _contains(s, address)]
        if not matched:
            raise ValueError(f"no matching subnet for aux-address {address}")
        for s in matched:
            aux_of[s][name] = address
    return tuple(IpamPool(s, chosen["range"].get(s), chosen["gateway"].get(s), tuple(aux_of[s].items())) for s in subnets)


def _ls_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format", default="")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.set_defaults(handler=ls_cmd)


def ls_cmd(ctx: Context, args: argparse.Namespace) -> int:
    nets = ctx.engine.network_service.list(NetworkFilters.parse(args.filter))
    if args.quiet:
        sys.stdout.write("".join((n.id if args.no_trunc else n.id[:12]) + "\n" for n in nets))
        return 0
    rows = [{"ID": n.id if args.no_trunc else n.id[:12], "Name": n.name, "Driver": n.driver, "Scope": "local",
             "IPv6": str(bool(n.ipv6.get("enabled"))).lower(), "Internal": str(n.internal).lower(), "CreatedAt": n.created,
             "Labels": ",".join(f"{k}={v}" for k, v in n.labels.items())} for n in nets]
    sys.stdout.write(render(args.format or LS_FORMAT, rows, LS_HEADERS, "*network.networkContext"))
    return 0


def _rm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NETWORK")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(handler=rm_cmd)


def rm_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "network rm", 1)
    failed = False
    for name in args.args:
        try:
            ctx.engine.network_service.remove(name)
            print(name)
        except NotFoundError:
            print(f"Error: No such network: {name}", file=sys.stderr)
            failed = True
        except DockyardError as exc:
            print(f"Error response from daemon: {exc}", file=sys.stderr)
            failed = True
    return EXIT_ERROR if failed else 0


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NETWORK")
    p.add_argument("-f", "--format", default="")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(handler=inspect_cmd)


def inspect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine.network_json import network_json

    require_args(args, "network inspect", 1)
    found, missing = [], []
    for name in args.args:
        try:
            found.append(network_json(ctx.engine.network_service.inspect(name)))
        except NotFoundError:
            missing.append(name)
    sys.stdout.write(render_inspect(args.format, found) if args.format else to_json(found) + "\n")
    for name in missing:
        print(f"Error: No such network: {name}", file=sys.stderr)
    return EXIT_ERROR if missing else 0


def _prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(handler=prune_cmd)


def prune_cmd(ctx: Context, args: argparse.Namespace) -> int:
    filters = NetworkFilters.parse(args.filter)
    if not args.force and not confirm("WARNING! This will remove all custom networks not used by at least one container."):
        return 0
    deleted = ctx.engine.network_service.prune(filters).deleted
    if deleted:
        sys.stdout.write("Deleted Networks:\n" + "".join(n + "\n" for n in deleted) + "\n")
    return 0


def _connect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NETWORK CONTAINER")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--ip", default="")
    p.add_argument("--ip6", default="")
    p.add_argument("--link", action="append", default=[])
    p.add_argument("--link-local-ip", action="append", default=[])
    p.add_argument("--driver-opt", action="append", default=[])
    p.set_defaults(handler=connect_cmd)


def connect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    """Running: a new interface now; stopped: from the next start on."""
    require_args(args, "network connect", 2, exact=True)
    request = endpoint_request(tuple(args.alias), args.ip, args.ip6, "", tuple(args.link_local_ip), tuple(args.link),
                               _key_values(args.driver_opt))
    ctx.engine.network_service.connect(args.args[0], args.args[1], request)
    return 0


def _disconnect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NETWORK CONTAINER")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(handler=disconnect_cmd)


def disconnect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "network disconnect", 2, exact=True)
    ctx.engine.network_service.disconnect(args.args[0], args.args[1], force=args.force)
    return 0
