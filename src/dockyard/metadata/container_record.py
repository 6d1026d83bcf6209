"""A container's stored record as typed data (containerd's containers.Container): its process, Docker's Config
and HostConfig, its mounts and what it asked of its network. ``document()`` is the JSON map the
``containers`` table holds (see ``containers``) and the runtime's spec assembly reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """The container's process as created (image defaults merged with the flags)."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str

    def document(self) -> dict[str, Any]:
        return {"args": list(self.args), "env": list(self.env), "cwd": self.cwd, "user": self.user}


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Docker's container.HealthConfig: the probe (``["NONE"]`` disables the image's), durations in nanoseconds
    (0: Docker's default)."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    @classmethod
    def parse(cls, h: dict[str, Any]) -> HealthConfig:
        return cls(tuple(h.get("Test") or ()), h.get("Interval") or 0, h.get("Timeout") or 0,
                   h.get("StartPeriod") or 0, h.get("Retries") or 0)

    def document(self) -> dict[str, Any]:
        """Docker's JSON: zero fields are left out (Go's omitempty)."""
        out: dict[str, Any] = {"Test": list(self.test), "Interval": self.interval, "Timeout": self.timeout,
                               "StartPeriod": self.start_period, "Retries": self.retries}
        return {k: v for k, v in out.items() if v}

    @property
    def disabled(self) -> bool:
        return not self.test or self.test[0] == "NONE"


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """Docker's container Config, field for field."""

    hostname: str
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    image: str = ""
    volumes: tuple[str, ...] | None = None  # anonymous volume destinations
    working_dir: str = ""
    entrypoint: tuple[str, ...] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str | None = None
    stop_timeout: int | None = None  # None: not set (Docker then omits the key)
    exposed_ports: tuple[str, ...] | None = None
    healthcheck: HealthConfig | None = None

    @classmethod
    def parse(cls, c: dict[str, Any]) -> ContainerConfig:
        return cls(
            c["Hostname"], c.get("Domainname", ""), c.get("User", ""), bool(c.get("AttachStdin")),
            bool(c.get("AttachStdout")), bool(c.get("AttachStderr")), bool(c.get("Tty")), bool(c.get("OpenStdin")),
            bool(c.get("StdinOnce")), tuple(c.get("Env") or ()), _strings(c.get("Cmd")), c.get("Image", ""),
            tuple(c["Volumes"]) if c.get("Volumes") else None, c.get("WorkingDir") or "", _strings(c.get("Entrypoint")),
            dict(c.get("Labels") or {}), c.get("StopSignal"), c.get("StopTimeout"),
            tuple(c["ExposedPorts"]) if c.get("ExposedPorts") else None,
            HealthConfig.parse(c["Healthcheck"]) if c.get("Healthcheck") is not None else None,
        )

    def document(self) -> dict[str, Any]:
        """Docker's JSON, keys in the order inspect prints them."""
        out: dict[str, Any] = {
            "Hostname": self.hostname, "Domainname": self.domainname, "User": self.user,
            "AttachStdin": self.attach_stdin, "AttachStdout": self.attach_stdout, "AttachStderr": self.attach_stderr,
            "Tty": self.tty, "OpenStdin": self.open_stdin, "StdinOnce": self.stdin_once, "Env": list(self.env),
            "Cmd": _list(self.cmd),
        }
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.document()
        out |= {
            "Image": self.image,
            "Volumes": {v: {} for v in self.volumes} if self.volumes else None, "WorkingDir": self.working_dir,
            "Entrypoint": _list(self.entrypoint), "OnBuild": None, "Labels": dict(self.labels),
            "StopSignal": self.stop_signal,
        }
        if self.stop_timeout is not None:
            out["StopTimeout"] = self.stop_timeout
        out["ExposedPorts"] = {p: {} for p in self.exposed_ports} if self.exposed_ports else None
        return out


@dataclass(frozen=True, slots=True)
class RestartPolicyRecord:
    """Docker's HostConfig.RestartPolicy as stored in the record."""

    name: str = "no"
    maximum_retry_count: int = 0


@dataclass(frozen=True, slots=True)
class Ulimit:
    """One ``--ulimit``: Docker's units.Ulimit."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True)
class DeviceMapping:
    """One ``--device``: Docker's container.DeviceMapping."""

    path_on_host: str
    path_in_container: str
    permissions: str = "rwm"


@dataclass(frozen=True, slots=True)
class RunFlags:
    """The HostConfig fields of ``run``'s namespace, device, DNS, limit and log flags, under Docker's names."""

    container_id_file: str = ""
    log_type: str = "json-file"
    log_config: tuple[tuple[str, str], ...] = ()
    dns: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    group_add: tuple[str, ...] | None = None
    ipc_mode: str = "private"
    pid_mode: str = ""
    shm_size: int = 64 * 1024 * 1024
    sysctls: tuple[tuple[str, str], ...] | None = None
    tmpfs: tuple[tuple[str, str], ...] | None = None
    cpuset_cpus: str = ""
    devices: tuple[DeviceMapping, ...] = ()
    memory_reservation: int = 0
    ulimits: tuple[Ulimit, ...] = ()
    cgroupns_mode: str | None = None  # None: dockerd's default for the host's cgroup version
    uts_mode: str = ""
    device_cgroup_rules: tuple[str, ...] | None = None
    isolation: str = ""
    volume_driver: str = ""

    @classmethod
    def parse(cls, h: dict[str, Any]) -> RunFlags:
        log = h.get("LogConfig") or {}
        return cls(
            h.get("ContainerIDFile") or "", log.get("Type") or "json-file", tuple((log.get("Config") or {}).items()),
            tuple(h.get("Dns") or ()), tuple(h.get("DnsOptions") or ()), tuple(h.get("DnsSearch") or ()),
            _strings(h.get("GroupAdd")), h.get("IpcMode") or "private", h.get("PidMode") or "",
            h.get("ShmSize") or 64 * 1024 * 1024,
            tuple(h["Sysctls"].items()) if h.get("Sysctls") is not None else None,
            tuple(h["Tmpfs"].items()) if h.get("Tmpfs") is not None else None, h.get("CpusetCpus") or "",
            tuple(DeviceMapping(d["PathOnHost"], d["PathInContainer"], d["CgroupPermissions"]) for d in h.get("Devices") or ()),
            h.get("MemoryReservation") or 0,
            tuple(Ulimit(u["Name"], u["Soft"], u["Hard"]) for u in h.get("Ulimits") or ()),
            h.get("CgroupnsMode") or None, h.get("UTSMode") or "", _strings(h.get("DeviceCgroupRules")),
            h.get("Isolation") or "", h.get("VolumeDriver") or "",
        )

    def document(self) -> dict[str, Any]:
        """Docker's JSON for these fields (``Sysctls``/``Tmpfs`` only when given, as Docker omits them)."""
        out: dict[str, Any] = {
            "ContainerIDFile": self.container_id_file,
            "LogConfig": {"Type": self.log_type, "Config": dict(self.log_config)},
            "Dns": list(self.dns), "DnsOptions": list(self.dns_options), "DnsSearch": list(self.dns_search),
            "GroupAdd": _list(self.group_add), "IpcMode": self.ipc_mode, "PidMode": self.pid_mode,
            "ShmSize": self.shm_size, "CpusetCpus": self.cpuset_cpus,
            "Devices": [{"PathOnHost": d.path_on_host, "PathInContainer": d.path_in_container,
                         "CgroupPermissions": d.permissions} for d in self.devices],
            "MemoryReservation": self.memory_reservation,
            "Ulimits": [{"Name": u.name, "Hard": u.hard, "Soft": u.soft} for u in self.ulimits],
            "CgroupnsMode": self.cgroupns_mode, "UTSMode": self.uts_mode,
            "DeviceCgroupRules": _list(self.device_cgroup_rules), "Isolation": self.isolation,
            "VolumeDriver": self.volume_driver,
        }
        if self.sysctls is not None:
            out["Sysctls"] = dict(self.sysctls)
        if self.tmpfs is not None:
            out["Tmpfs"] = dict(self.tmpfs)
        return out


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Docker's HostConfig: the fields dockyard honours."""

    network_mode: str = "none"
    binds: tuple[str, ...] | None = None
    mount_flags: tuple[tuple[str, str], ...] | None = None  # --mount values: (Docker's Type, the flag as given)
    auto_remove: bool = False
    security_opt: tuple[str, ...] | None = None
    memory: int = 0
    memory_swap: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int | None = None
    readonly_rootfs: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] | None = None
    cap_drop: tuple[str, ...] | None = None
    init: bool | None = None
    restart_policy: RestartPolicyRecord = field(default_factory=RestartPolicyRecord)
    runtime: str = "runc"
    # "80/tcp" -> its host bindings as (HostIp, HostPort), as ``-p`` asked for them
    port_bindings: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    publish_all_ports: bool = False
    extra_hosts: tuple[str, ...] | None = None
    flags: RunFlags = field(default_factory=lambda: RunFlags())
    links: tuple[str, ...] | None = None  # CHILD_ID:ALIAS (runtime.links)
    volumes_from: tuple[str, ...] | None = None  # CONTAINER[:ro|rw] as asked

    @classmethod
    def parse(cls, h: dict[str, Any]) -> HostConfig:
        restart = h.get("RestartPolicy") or {}
        return cls(
            h.get("NetworkMode", "none"), _strings(h.get("Binds")),
            tuple((m["Type"], m["Spec"]) for m in h["Mounts"]) if h.get("Mounts") else None, bool(h.get("AutoRemove")),
            _strings(h.get("SecurityOpt")), h.get("Memory") or 0, h.get("MemorySwap") or 0, h.get("NanoCpus") or 0,
            h.get("CpuShares") or 0, h.get("PidsLimit"), bool(h.get("ReadonlyRootfs")), bool(h.get("Privileged")),
            _strings(h.get("CapAdd")), _strings(h.get("CapDrop")), h.get("Init"),
            RestartPolicyRecord(restart.get("Name") or "no", restart.get("MaximumRetryCount") or 0),
            h.get("Runtime") or "runc",
            {port: tuple((b.get("HostIp", ""), b.get("HostPort", "")) for b in bindings or ())
             for port, bindings in (h.get("PortBindings") or {}).items()},
            bool(h.get("PublishAllPorts")), _strings(h.get("ExtraHosts")), RunFlags.parse(h), _strings(h.get("Links")),
            _strings(h.get("VolumesFrom")),
        )

    def document(self) -> dict[str, Any]:
        return {
            "Binds": _list(self.binds),
            "Mounts": [{"Type": t, "Spec": spec} for t, spec in self.mount_flags] if self.mount_flags else None,
            "NetworkMode": self.network_mode, "AutoRemove": self.auto_remove, "SecurityOpt": _list(self.security_opt),
            "Memory": self.memory, "MemorySwap": self.memory_swap, "NanoCpus": self.nano_cpus,
            "CpuShares": self.cpu_shares, "PidsLimit": self.pids_limit, "ReadonlyRootfs": self.readonly_rootfs,
            "Privileged": self.privileged, "CapAdd": _list(self.cap_add), "CapDrop": _list(self.cap_drop),
            "Init": self.init,
            "RestartPolicy": {"Name": self.restart_policy.name, "MaximumRetryCount": self.restart_policy.maximum_retry_count},
            "Runtime": self.runtime,
            "PortBindings": {port: [{"HostIp": ip, "HostPort": host_port} for ip, host_port in bindings]
                             for port, bindings in self.port_bindings.items()},
            "PublishAllPorts": self.publish_all_ports, "ExtraHosts": _list(self.extra_hosts),
            **self.flags.document(), "Links": _list(self.links), "VolumesFrom": _list(self.volumes_from),
        }


@dataclass(frozen=True, slots=True)
class MountRecord:
    """One mount of the container: a named or anonymous volume, a bind, or a tmpfs."""

    type: str  # "volume", "bind" or "tmpfs"
    source: str  # host path ("" for tmpfs)
    destination: str
    readonly: bool = False
    mode: str | None = None
    propagation: str | None = None
    name: str | None = None  # volumes
    driver: str | None = None  # volumes
    anonymous: bool = False  # volumes: removed with the container (rm -v, --rm)
    nocopy: bool = False  # volumes
    tmpfs_options: tuple[str, ...] = ()  # tmpfs
    subpath: str = ""  # volumes: the directory of it mounted (VolumeOptions.Subpath)

    @classmethod
    def parse(cls, v: dict[str, Any]) -> MountRecord:
        return cls(v.get("type", "bind"), v.get("source", ""), v["destination"], bool(v.get("readonly")), v.get("mode"),
                   v.get("propagation"), v.get("name"), v.get("driver"), bool(v.get("anonymous")), bool(v.get("nocopy")),
                   tuple(v.get("tmpfs_options") or ()), v.get("subpath") or "")

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "destination": self.destination, "readonly": self.readonly,
                               "mode": self.mode, "propagation": self.propagation, "source": self.source, "name": self.name}
        if self.type == "tmpfs":
            out["tmpfs_options"] = list(self.tmpfs_options)
        elif self.type == "volume":
            out.update(driver=self.driver, anonymous=self.anonymous, nocopy=self.nocopy)
            if self.subpath:
                out["subpath"] = self.subpath
        return out


@dataclass(frozen=True, slots=True)
class NetworkRequest:
    """What was asked of a container's endpoint on one network (Docker's EndpointSettings as a client sends
    them): ``--network-alias``, ``--ip``, ``--ip6``, ``--mac-address``, ``--link-local-ip``, ``--link`` on a user
    network, ``--driver-opt``. ``driver_opts`` None: none were given (Docker answers null, not {})."""

    aliases: tuple[str, ...] = ()
    ipv4_address: str = ""
    ipv6_address: str = ""
    mac_address: str = ""
    link_local_ips: tuple[str, ...] = ()
    links: tuple[str, ...] = ()  # CONTAINER:ALIAS
    driver_opts: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> NetworkRequest:
        """From ``document()``'s map; the first connection files wrote ``aliases`` and ``ip``."""
        opts = doc.get("DriverOpts")
        return cls(tuple(doc.get("Aliases") or doc.get("aliases") or ()), doc.get("IPv4Address") or doc.get("ip") or "",
                   doc.get("IPv6Address") or "", doc.get("MacAddress") or "", tuple(doc.get("LinkLocalIPs") or ()),
                   tuple(doc.get("Links") or ()), None if opts is None else tuple(opts.items()))

    def document(self) -> dict[str, Any]:
        return {"Aliases": list(self.aliases), "IPv4Address": self.ipv4_address, "IPv6Address": self.ipv6_address,
                "MacAddress": self.mac_address, "LinkLocalIPs": list(self.link_local_ips), "Links": list(self.links),
                "DriverOpts": None if self.driver_opts is None else dict(self.driver_opts)}

    def ipam_config(self) -> dict[str, Any]:
        """Docker's EndpointIPAMConfig of what was asked (empty fields left out, as Go's omitempty does)."""
        out: dict[str, Any] = {"IPv4Address": self.ipv4_address, "IPv6Address": self.ipv6_address,
                               "LinkLocalIPs": list(self.link_local_ips)}
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """A container as stored (containerd's containers.Container). Its run state is not here: the container's
    monitor keeps that in ``state.json``."""

    id: str
    name: str
    image_id: str
    created: str
    image: str  # as the user named it
    process: ProcessRecord
    config: ContainerConfig
    host_config: HostConfig
    mounts: tuple[MountRecord, ...]
    networking: NetworkRequest = field(default_factory=NetworkRequest)
    seccomp: str = ""  # "" Docker's default profile, "unconfined", or a profile's JSON
    no_new_privileges: bool = False

    @classmethod
    def parse(cls, cid: str, name: str, image_id: str, created: str, doc: dict[str, Any]) -> ContainerRecord:
        """From the stored JSON map (older rows may lack the later keys)."""
        p, net = doc["Process"], doc.get("Networking") or {}
        return cls(
            cid, name, image_id, created, doc["Image"],
            ProcessRecord(tuple(p["args"]), tuple(p["env"]), p["cwd"], p["user"]),
            ContainerConfig.parse(doc["Config"]), HostConfig.parse(doc["HostConfig"]),
            tuple(MountRecord.parse(v) for v in doc.get("Volumes", [])),
            NetworkRequest.parse(net),
            doc.get("Seccomp", ""), bool(doc.get("NoNewPrivileges")),
        )

    def document(self) -> dict[str, Any]:
        """The stored JSON map (what the runtime's spec assembly reads)."""
        return {
            "Image": self.image, "Process": self.process.document(), "Config": self.config.document(),
            "HostConfig": self.host_config.document(), "Volumes": [m.document() for m in self.mounts],
            "NoNewPrivileges": self.no_new_privileges, "Seccomp": self.seccomp,
            "Networking": self.networking.document(),
        }


def _strings(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _list(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)
