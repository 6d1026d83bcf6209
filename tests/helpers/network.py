"""Host network state for leak checks: links, named namespaces, iptables rules, and the bridges a store made."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from pathlib import Path

ALIAS_PREFIX = "dockyard:"  # runtime/network/store.py marks every bridge it creates with its root


def links() -> set[str]:
    doc = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout or "[]")
    return {link["ifname"] for link in doc}


def netns_names() -> set[str]:
    return set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())


def iptables_rules() -> set[str]:
    """Rules and chains, without counters, of the filter and nat tables."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return {line.split(" [")[0] for line in out.splitlines() if line.startswith(("-A", ":"))}


def rules_mentioning(words: list[str]) -> list[str]:
    return sorted(r for r in iptables_rules() if any(w in r for w in words))


def bridge_ports(bridge: str) -> set[str]:
    """Interfaces (the host ends of veths) enslaved to ``bridge``."""
    out = subprocess.run(["ip", "-j", "link", "show", "master", bridge], capture_output=True, text=True).stdout
    return {link["ifname"] for link in json.loads(out or "[]")}


def rules_for(subnet: str, words: tuple[str, ...] = ()) -> set[str]:
    """The iptables rules that belong to one network: those naming an address of ``subnet`` or one of
    ``words`` (CNI network name, container IDs), plus every rule of the chains they jump to.

    Other stores' networks use other subnets, so this is stable while other tests run beside us.
    """
    net = ipaddress.ip_network(subnet)
    rules = iptables_rules()

    def ours(rule: str) -> bool:
        if any(w in rule for w in words):
            return True
        for found in re.findall(r"\b(\d+\.\d+\.\d+\.\d+)(?:/\d+)?\b", rule):
            if ipaddress.ip_address(found) in net:
                return True
        return False

    picked = {r for r in rules if r.startswith("-A") and ours(r)}
    chains = {m for r in picked for m in re.findall(r"-j (CNI-[\w-]+)", r)} - {"CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK",
                                                                               "CNI-HOSTPORT-DNAT", "CNI-FORWARD", "CNI-ADMIN"}
    return picked | {r for r in rules if any(r.startswith((f"-A {c} ", f":{c} ")) for c in chains)}


def store_bridges(root: Path) -> list[str]:
    doc = json.loads(subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True).stdout or "[]")
    return [link["ifname"] for link in doc if link.get("ifalias") == f"{ALIAS_PREFIX}{root}"]


def delete_store_bridges(root: Path) -> None:
    for name in store_bridges(root):
        subprocess.run(["ip", "link", "del", name], capture_output=True)
