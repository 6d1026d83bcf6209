"""The outbound NAT and forwarding rules of each bridge network, and removing what a network left in iptables.

Outbound NAT is one masquerade rule per network (``-s SUBNET ! -o BRIDGE``),
as Docker has it, rather than the bridge plugin's chain per container: that
saves several iptables calls at every container start and stop.

Removing a network whose containers nobody can DEL any more (its store was
deleted): portmap's DNAT rules (and any older per-container masquerade rule)
carry the CNI network's name in a comment, as does the network's own rule;
they are deleted and the per-container chains they point at flushed and
removed. The shared CNI chains (CNI-HOSTPORT-*, CNI-FORWARD) stay, as other
networks use them.
"""

from __future__ import annotations

import re
import shlex
import subprocess

from dockyard.runtime.network.nsexec import command

SHARED_CHAINS = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ", "CNI-FORWARD", "CNI-ADMIN"}


def _iptables(*args: str) -> None:
    subprocess.run(command(["iptables", "-w", *args]), capture_output=True)


def _masquerade(cni_name: str, subnet: str, bridge: str) -> list[str]:
    comment = f'name: "{cni_name}" network masquerade'
    return ["POSTROUTING", "-s", subnet, "!", "-o", bridge, "-m", "comment", "--comment", comment, "-j", "MASQUERADE"]


def ensure_masquerade(cni_name: str, subnet: str, bridge: str) -> None:
    """Idempotent: add the network's NAT rule unless it is there. Call under the host lock, with the
    subnet claimed: another network's rule for the same subnet is then a stale one, and goes."""
    dump = subprocess.run(command(["iptables-save", "-t", "nat"]), capture_output=True, text=True).stdout
    for line in dump.splitlines():
        if line.startswith(f"-A POSTROUTING -s {subnet} ") and "network masquerade" in line and cni_name not in line:
            _iptables("-t", "nat", "-D", *shlex.split(line)[1:])
    rule = _masquerade(cni_name, subnet, bridge)
    if subprocess.run(command(["iptables", "-w", "-t", "nat", "-C", *rule]), capture_output=True).returncode != 0:
        _iptables("-t", "nat", "-A", *rule)


def _forward(cni_name: str, bridge: str) -> list[list[str]]:
    comment = ["-m", "comment", "--comment", f'name: "{cni_name}" network forward']
    return [["FORWARD", "-i", bridge, *comment, "-j", "ACCEPT"],
            ["FORWARD", "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", *comment, "-j", "ACCEPT"]]


def ensure_forward(cni_name: str, bridge: str) -> None:
    """Idempotent: the network's containers may send, and get answers, where the host's FORWARD policy is
    DROP (as a Docker daemon sets it). Two rules per network, ahead of the policy, instead of the CNI
    firewall plugin's rules per container (its iptables calls cost ~0.1 s at every start and stop)."""
    for rule in _forward(cni_name, bridge):
        if subprocess.run(command(["iptables", "-w", "-C", *rule]), capture_output=True).returncode != 0:
            _iptables("-I", *rule[:1], "1", *rule[1:])


def drop_masquerade_without(bridges: set[str]) -> None:
    """Networks' NAT rules whose bridge is gone (its store deleted it, or was deleted). Host lock held."""
    dump = subprocess.run(command(["iptables-save", "-t", "nat"]), capture_output=True, text=True).stdout
    for line in dump.splitlines():
        words = line.split()
        if line.startswith("-A POSTROUTING ") and "network masquerade" in line and "-o" in words:
            if words[words.index("-o") + 1] not in bridges:
                _iptables("-t", "nat", "-D", *shlex.split(line)[1:])


def drop_network_rules(cni_name: str) -> None:
    """Idempotent; best effort (a rule another process removed meanwhile is not an error)."""
    marker = f'name: \\"{cni_name}\\"'
    for table in ("nat", "filter"):
        dump = subprocess.run(command(["iptables-save", "-t", table]), capture_output=True, text=True).stdout
        rules = [line for line in dump.splitlines() if line.startswith("-A ") and marker in line]
        chains = {m for r in rules for m in re.findall(r"-j (CNI-[\w-]+)", r)} - SHARED_CHAINS
        for rule in rules:
            _iptables("-t", table, "-D", *shlex.split(rule)[1:])
        for chain in chains:
            _iptables("-t", table, "-F", chain)
            _iptables("-t", table, "-X", chain)
