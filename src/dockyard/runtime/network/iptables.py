"""Removing the iptables rules CNI left for a network nobody can DEL any more (its store was deleted).

The bridge plugin's masquerade rules and portmap's DNAT rules carry the CNI
network's name in a comment; each points at a per-container chain. Those
rules are deleted and those chains flushed and removed. The shared CNI chains
(CNI-HOSTPORT-*, CNI-FORWARD) stay, as other networks use them.
"""

from __future__ import annotations

import re
import shlex
import subprocess

SHARED_CHAINS = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ", "CNI-FORWARD", "CNI-ADMIN"}


def _iptables(*args: str) -> None:
    subprocess.run(["iptables", "-w", *args], capture_output=True)


def drop_network_rules(cni_name: str) -> None:
    """Idempotent; best effort (a rule another process removed meanwhile is not an error)."""
    marker = f'name: \\"{cni_name}\\"'
    for table in ("nat", "filter"):
        dump = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout
        rules = [line for line in dump.splitlines() if line.startswith("-A ") and marker in line]
        chains = {m for r in rules for m in re.findall(r"-j (CNI-[\w-]+)", r)} - SHARED_CHAINS
        for rule in rules:
            _iptables("-t", table, "-D", *shlex.split(rule)[1:])
        for chain in chains:
            _iptables("-t", table, "-F", chain)
            _iptables("-t", table, "-X", chain)
