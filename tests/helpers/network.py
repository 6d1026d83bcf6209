"""Host network state for leak checks: links, named namespaces, iptables rules, and the bridges a store made."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ALIAS_PREFIX = "dockyard:"  # runtime/network/store.py marks every bridge: dockyard:<CNI name>:<root>


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


def rules_for(words: tuple[str, ...]) -> set[str]:
    """The iptables rules of one store's network: those naming ``words[0]`` (its CNI network name) or
    one of ``words[1:]`` (its containers' ``IP/32``), plus every rule of the per-container chains they jump to.

    Other stores use other names and addresses, so this holds while other tests run beside us.
    """
    rules = iptables_rules()
    name, addresses = words[0], words[1:]

    def ours(rule: str) -> bool:  # an address counts only in rules no other network's comment claims
        if "network masquerade" in rule or "network forward" in rule:  # the network's own rules live as long as its bridge
            return False
        return name in rule or ("name: " not in rule and any(a in rule for a in addresses))

    picked = {r for r in rules if r.startswith("-A") and ours(r)}
    shared = {"CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-DNAT", "CNI-FORWARD", "CNI-ADMIN"}
    chains = {m for r in picked for m in re.findall(r"-j (CNI-[\w-]+)", r)} - shared
    return picked | {r for r in rules if any(r.startswith((f"-A {c} ", f":{c} ")) for c in chains)}


def store_bridges(root: Path) -> list[str]:
    doc = json.loads(subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True).stdout or "[]")
    return [link["ifname"] for link in doc
            if link.get("ifalias", "").startswith(ALIAS_PREFIX) and link["ifalias"].endswith(f":{root}")]


def delete_store_bridges(root: Path) -> None:
    """The store's bridges and their networks' NAT rules (what ``network rm`` would remove)."""
    from dockyard.runtime.network.iptables import drop_network_rules

    doc = json.loads(subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True).stdout or "[]")
    for link in doc:
        alias = link.get("ifalias", "")
        if alias.startswith(ALIAS_PREFIX) and alias.endswith(f":{root}"):
            subprocess.run(["ip", "link", "del", link["ifname"]], capture_output=True)
            drop_network_rules(alias.removeprefix(ALIAS_PREFIX).split(":", 1)[0])
