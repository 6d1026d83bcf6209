"""What ``run``/``create`` ask for beyond the process: security, limits, restart, stop, init, runtime.

``Isolation`` is checked once at create (Docker's messages), kept in the
container's record under Docker's ``HostConfig``/``Config`` names (so
``inspect`` shows them), and turned back into the spec's security and
resources sections at every start by ``security_for`` and ``resources_for``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgumentError
from dockyard.runtime import resources, seccomp
from dockyard.runtime.resources import Limits
from dockyard.runtime.restart import RestartPolicy
from dockyard.runtime.spec import ALL_CAPABILITIES, Security, capability_set

RUNTIMES = ("runc", "crun")
# docker-init is Debian's tini (package tini); tini-static needs nothing from the image
INIT_CANDIDATES = ("/usr/bin/docker-init", "/usr/libexec/docker/docker-init", "/usr/bin/tini-static", "/usr/bin/tini")


def parse_signal(raw: str) -> int:
    """Docker's ParseSignal: a number or a name, with or without SIG, any case; RTMIN+n too."""
    if raw.isdigit():
        number = int(raw)
        if number == 0 or number > signal.SIGRTMAX:
            raise InvalidArgumentError(f"Invalid signal: {raw}")
        return number
    name = raw.upper().removeprefix("SIG")
    if name.startswith("RTMIN+") and name[6:].isdigit() and signal.SIGRTMIN + int(name[6:]) <= signal.SIGRTMAX:
        return signal.SIGRTMIN + int(name[6:])
    if name.startswith("RTMAX-") and name[6:].isdigit() and signal.SIGRTMAX - int(name[6:]) >= signal.SIGRTMIN:
        return signal.SIGRTMAX - int(name[6:])
    try:
        return int(signal.Signals["SIG" + name])
    except KeyError:
        raise InvalidArgumentError(f"Invalid signal: {raw}") from None


@dataclass(frozen=True, slots=True)
class Isolation:
    limits: Limits = field(default_factory=Limits)
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    read_only: bool = False
    no_new_privileges: bool = False
    seccomp_profile: str = ""  # "" Docker's default, "unconfined", or a profile's JSON text
    security_opt: tuple[str, ...] = ()  # as given, for inspect
    init: bool = False
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    runtime: str = "runc"
    stop_signal: str | None = None
    stop_timeout: int | None = None
    labels: tuple[tuple[str, str], ...] = ()

    def validate(self) -> None:
        """Docker's daemon-side checks; InvalidArgumentError with its wording."""
        self.limits.validate()
        capability_set(list(self.cap_add), list(self.cap_drop), self.privileged)
        if self.runtime not in RUNTIMES:
            raise InvalidArgumentError(f"Unknown runtime specified {self.runtime}")
        if self.stop_signal is not None:
            parse_signal(self.stop_signal)
        if self.seccomp_profile not in ("", "unconfined"):
            try:
                profile = json.loads(self.seccomp_profile)
            except ValueError as exc:
                raise InvalidArgumentError(f"Decoding seccomp profile failed: {exc}") from None
            seccomp.resolve(profile, ALL_CAPABILITIES)
        if self.init and init_binary() is None:
            raise InvalidArgumentError("exec: \"docker-init\": executable file not found in $PATH")

    def host_config(self) -> dict[str, Any]:
        lim = self.limits
        return {
            "Memory": lim.memory, "MemorySwap": lim.effective_swap, "NanoCpus": lim.nano_cpus,
            "CpuShares": lim.cpu_shares, "PidsLimit": lim.pids_limit if lim.pids_limit > 0 else None,
            "ReadonlyRootfs": self.read_only, "Privileged": self.privileged,
            "CapAdd": list(self.cap_add) or None, "CapDrop": list(self.cap_drop) or None,
            "SecurityOpt": list(self.security_opt) or None, "Init": self.init or None,
            "RestartPolicy": self.restart.as_json(), "Runtime": self.runtime,
        }

    def config(self, image_config: dict[str, Any]) -> dict[str, Any]:
        """Config fields: labels over the image's, the stop signal (else the image's), the stop timeout."""
        out: dict[str, Any] = {"Labels": {**(image_config.get("Labels") or {}), **dict(self.labels)},
                               "StopSignal": self.stop_signal or image_config.get("StopSignal")}
        if self.stop_timeout is not None:
            out["StopTimeout"] = self.stop_timeout
        return out


def init_binary() -> str | None:
    return next((p for p in INIT_CANDIDATES if os.access(p, os.X_OK)), None) or shutil.which("docker-init")


def security_for(host_config: dict[str, Any], seccomp_profile: str, no_new_privileges: bool = False) -> Security:
    """The spec's security settings from a stored HostConfig (at every start)."""
    privileged = bool(host_config.get("Privileged"))
    available = tuple(c for i, c in enumerate(ALL_CAPABILITIES) if i in resources.available_capabilities())
    caps = capability_set(host_config.get("CapAdd") or [], host_config.get("CapDrop") or [], privileged, available)
    profile: dict[str, Any] | None
    if privileged or seccomp_profile == "unconfined":
        profile = None
    elif seccomp_profile:
        profile = json.loads(seccomp_profile)
    else:
        profile = seccomp.DEFAULT_PROFILE
    return Security(
        capabilities=caps,
        seccomp=None if profile is None else seccomp.resolve(profile, caps),
        privileged=privileged,
        readonly_rootfs=bool(host_config.get("ReadonlyRootfs")),
        devices=tuple(resources.host_devices()) if privileged else (),
    )


def resources_for(host_config: dict[str, Any]) -> dict[str, Any]:
    limits = Limits(memory=host_config.get("Memory") or 0, memory_swap=host_config.get("MemorySwap") or 0,
                    nano_cpus=host_config.get("NanoCpus") or 0, cpu_shares=host_config.get("CpuShares") or 0,
                    pids_limit=host_config.get("PidsLimit") or 0)
    return resources.linux_resources(limits, privileged=bool(host_config.get("Privileged")))


def restart_policy(host_config: dict[str, Any]) -> RestartPolicy:
    policy = host_config.get("RestartPolicy") or {}
    return RestartPolicy(policy.get("Name") or "no", policy.get("MaximumRetryCount") or 0)
