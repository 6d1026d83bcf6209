"""What ``run``/``create`` ask for beyond the process: security, limits, restart, stop, init, runtime.

``Isolation`` is checked once at create (Docker's messages), kept in the
container's record under Docker's ``HostConfig``/``Config`` names (so
``inspect`` shows them), and turned back into the spec's security and
resources sections at every start by ``security_for`` and ``resources_for``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from dockyard.errors import InvalidArgumentError
# the flag records, re-exported for the faces (engine/container_options)
from dockyard.metadata.container_record import DeviceMapping as DeviceMapping, RunFlags, Ulimit as Ulimit
from dockyard.runtime import resources, seccomp
from dockyard.runtime.resources import Limits
from dockyard.runtime.restart import RestartPolicy
from dockyard.runtime.spec import ALL_CAPABILITIES, Security, capability_set

RUNTIMES = ("runc", "crun")
# a --device-cgroup-rule: TYPE MAJOR:MINOR ACCESS (Docker's deviceCgroupRuleRegex)
DEVICE_CGROUP_RULE = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")
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
    flags: RunFlags = field(default_factory=RunFlags)  # namespaces, devices, DNS, ulimits, logging...

    def validate(self) -> None:
        """Docker's daemon-side checks; InvalidArgumentError with its wording."""
        self.limits.validate()
        validate_flags(self.flags, self.limits.memory)
        lim, f = self.limits, self.flags
        resources.check_limits_possible({  # as given: the swap Docker derives from --memory is not asked for
            "Memory": lim.memory, "MemorySwap": lim.memory_swap, "NanoCpus": lim.nano_cpus, "CpuShares": lim.cpu_shares,
            "PidsLimit": max(lim.pids_limit, 0), "CpusetCpus": f.cpuset_cpus, "MemoryReservation": f.memory_reservation})
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
            "RestartPolicy": self.restart.as_json(), "Runtime": self.runtime, **self.flags.document(),
        }

    def with_peers(self, container_id: Callable[[str], str]) -> Isolation:
        """``--pid``/``--ipc container:NAME`` with the container's full ID, as dockerd stores them."""
        f = self.flags
        pid, ipc = (f"container:{container_id(m[10:])}" if m.startswith("container:") else m for m in (f.pid_mode, f.ipc_mode))
        return replace(self, flags=replace(f, pid_mode=pid, ipc_mode=ipc))

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
    res = resources.linux_resources(limits, privileged=bool(host_config.get("Privileged")))
    if host_config.get("MemoryReservation"):
        res["memory"]["reservation"] = host_config["MemoryReservation"]
    if host_config.get("CpusetCpus"):
        res["cpu"]["cpus"] = host_config["CpusetCpus"]
    if not host_config.get("Privileged"):
        res["devices"] += [resources.device_rule(d) for d in host_config.get("Devices") or ()]
        res["devices"] += [_cgroup_rule(r) for r in host_config.get("DeviceCgroupRules") or ()]
    return res


def _cgroup_rule(rule: str) -> dict[str, Any]:
    """A ``--device-cgroup-rule`` as the spec's device rule (``*``: any number, -1)."""
    m = DEVICE_CGROUP_RULE.fullmatch(rule)
    if m is None:
        raise InvalidArgumentError(f"invalid device cgroup rule format: '{rule}'")
    kind, major, minor, access = m.groups()
    return {"allow": True, "type": kind, "major": -1 if major == "*" else int(major),
            "minor": -1 if minor == "*" else int(minor), "access": access}


def restart_policy(host_config: dict[str, Any]) -> RestartPolicy:
    policy = host_config.get("RestartPolicy") or {}
    return RestartPolicy(policy.get("Name") or "no", policy.get("MaximumRetryCount") or 0)


IPC_MODES = ("", "private", "shareable", "host", "none")
LOG_DRIVERS = ("json-file", "none")
JSON_FILE_OPTS = ("max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag")


def validate_flags(f: RunFlags, memory: int) -> None:
    """dockerd's checks of the namespace, device, cpuset, reservation, tmpfs and log flags."""
    if f.ipc_mode not in IPC_MODES and not f.ipc_mode.startswith("container:"):
        raise InvalidArgumentError(f"Invalid IPC mode: {f.ipc_mode}")
    for d in f.devices:
        if not os.path.exists(d.path_on_host):
            raise InvalidArgumentError(f'error gathering device information while adding custom device "{d.path_on_host}": '
                                       "no such file or directory")
    if f.cpuset_cpus:
        resources.check_cpuset(f.cpuset_cpus)
    if f.memory_reservation and f.memory_reservation < resources.MIN_MEMORY:
        raise InvalidArgumentError("Minimum memory reservation allowed is 6MB")
    if memory and f.memory_reservation > memory:
        raise InvalidArgumentError("Minimum memory limit can not be less than memory reservation limit, see usage")
    for path, _ in f.tmpfs or ():
        if not path.startswith("/"):
            raise InvalidArgumentError(f"invalid mount path: '{path}' mount path must be absolute")
    if f.cgroupns_mode not in (None, "host", "private"):
        raise InvalidArgumentError(f"invalid cgroup namespace mode: {f.cgroupns_mode}")
    if f.uts_mode not in ("", "host"):
        raise InvalidArgumentError(f"invalid UTS mode: {f.uts_mode}")
    if f.isolation.lower() not in ("", "default"):
        raise InvalidArgumentError(f"Invalid isolation: \"{f.isolation}\" - linux only supports 'default'")
    for rule in f.device_cgroup_rules or ():
        _cgroup_rule(rule)
    _validate_log(f)


def _validate_log(f: RunFlags) -> None:
    from dockyard.runtime.logs import parse_size

    if f.log_type not in LOG_DRIVERS:
        raise InvalidArgumentError(f'error looking up logging plugin {f.log_type}: plugin "{f.log_type}" not found')
    opts = dict(f.log_config)
    for key in opts:
        if key not in JSON_FILE_OPTS:
            raise InvalidArgumentError(f"unknown log opt '{key}' for {f.log_type} log driver")
    if "max-size" in opts:
        try:
            parse_size(opts["max-size"])
        except ValueError as exc:
            raise InvalidArgumentError(f"failed to initialize logging driver: {exc}") from None
    if "max-file" in opts:
        if not opts["max-file"].lstrip("-").isdigit():
            raise InvalidArgumentError(f'failed to initialize logging driver: strconv.Atoi: parsing "{opts["max-file"]}": invalid syntax')
        if int(opts["max-file"]) < 1:
            raise InvalidArgumentError("failed to initialize logging driver: max-file cannot be less than 1")


def namespace_paths(host_config: dict[str, Any], containers: Path) -> dict[str, str | None]:
    """``pid``/``ipc`` namespaces: omitted (``host``), joined (``container:ID``: its process's) or new (None);
    ``uts`` new unless ``--uts host``; ``cgroup`` new with ``--cgroupns private`` (dockerd's default on cgroup v2)."""
    out: dict[str, str | None] = {}
    for kind, mode in (("pid", host_config.get("PidMode") or ""), ("ipc", host_config.get("IpcMode") or "")):
        if mode == "host":
            continue
        out[kind] = f"/proc/{peer_pid(containers, mode[10:], kind)}/ns/{kind}" if mode.startswith("container:") else None
    if host_config.get("UTSMode") != "host":
        out["uts"] = None
    if cgroupns_mode(host_config) == "private":
        out["cgroup"] = None
    return out


def cgroupns_mode(host_config: dict[str, Any]) -> str:
    """HostConfig.CgroupnsMode, or dockerd's default: a namespace of its own on cgroup v2 only."""
    return host_config.get("CgroupnsMode") or ("private" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "host")


def peer_pid(containers: Path, cid: str, kind: str) -> int:
    """The process of the running container ``cid`` (the one another container's namespace flag names)."""
    try:
        state = json.loads((containers / cid / "state.json").read_text())
    except (OSError, ValueError):
        state = {}
    if state.get("Status") not in ("running", "paused") or not state.get("Pid"):
        if kind == "net":
            raise InvalidArgumentError(f"cannot join network of a non running container: {cid}")
        what = "PID" if kind == "pid" else "IPC"
        raise InvalidArgumentError(f"can't join {what} of container {cid}: container {cid} is not running")
    return int(state["Pid"])


def check_container_network(hostname: str | None, dns: bool, extra_hosts: bool, publish: bool, expose: bool) -> None:
    """dockerd's validateNetContainerMode: what ``--network container:NAME`` takes from the other container."""
    for given, what in ((hostname, "hostname and the network mode"), (dns, "dns and the network mode"),
                        (extra_hosts, "custom host-to-IP mapping and the network mode"),
                        (publish, "port publishing and the container type network mode"),
                        (expose, "port exposing and the container type network mode")):
        if given:
            raise InvalidArgumentError(f"conflicting options: {what}")
