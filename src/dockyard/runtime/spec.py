"""The OCI runtime spec dockyard writes, built by small pure functions.

``merge_process`` applies Docker's rules for combining the image config with
``run``'s flags; ``build_spec`` turns the result into ``config.json`` with
Docker's defaults (capabilities, namespaces, mounts, masked /proc paths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgumentError
from dockyard.metadata.container_record import ProcessRecord
from dockyard.oci.linux_defaults import MASKED_PATHS, READONLY_PATHS
from dockyard.runtime.resources import Limits, linux_resources

INIT_PATH = "/sbin/docker-init"  # where Docker binds its init (tini) for --init
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# every capability Linux knows, in bit order (moby oci/caps: --privileged, --cap-add ALL)
ALL_CAPABILITIES: tuple[str, ...] = tuple(
    "CAP_" + c
    for c in (
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE",
    )
)

# moby oci/caps/defaults.go
DEFAULT_CAPABILITIES: tuple[str, ...] = tuple(
    "CAP_" + c
    for c in (
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
        "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    )
)



@dataclass(frozen=True, slots=True)
class Overrides:
    """What ``run``/``create`` flags say about the process (None: take the image's)."""

    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Volume:
    source: str
    destination: str
    readonly: bool = False
    tmpfs_options: tuple[str, ...] | None = None  # a tmpfs (--mount type=tmpfs) instead of a bind of ``source``


@dataclass(frozen=True, slots=True)
class SpecInput:
    """Everything ``build_spec`` needs, resolved (user IDs, paths)."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    rootfs: str
    hostname: str
    cgroups_path: str
    host_network: bool = False
    tty: bool = False
    no_new_privileges: bool = False
    volumes: tuple[Volume, ...] = ()
    etc_files: dict[str, str] = field(default_factory=dict)  # container path -> host file
    security: Security = field(default_factory=lambda: Security())
    resources: dict[str, Any] = field(default_factory=dict)  # linux.resources (runtime/resources.py)
    init_path: str | None = None  # host path of the init bound in as /sbin/docker-init (--init)
    netns_path: str | None = None  # the network namespace to join (bridge and user networks)
    flags: RunSpec = field(default_factory=lambda: RunSpec())


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What ``run``'s namespace, device, ulimit, sysctl, shm and tmpfs flags put in the spec."""

    # "pid"/"ipc"/"uts"/"cgroup": absent shares the host's, None a new one, a path joins that one
    # (--pid/--ipc container:ID)
    namespaces: dict[str, str | None] = field(default_factory=lambda: {"pid": None, "ipc": None, "uts": None})
    rlimits: tuple[dict[str, Any], ...] = ()
    devices: tuple[dict[str, Any], ...] = ()  # linux.devices of --device
    sysctls: dict[str, str] = field(default_factory=dict)
    shm_size: int = 64 * 1024 * 1024
    shm_source: str | None = None  # a /dev/shm to bind instead of a new tmpfs (--ipc host, container:ID)
    tmpfs: tuple[tuple[str, str], ...] = ()  # --tmpfs: path, options as given


@dataclass(frozen=True, slots=True)
class Security:
    """The isolation flags, resolved: capabilities, seccomp section (None: unconfined), devices."""

    capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES
    seccomp: dict[str, Any] | None = None
    privileged: bool = False
    readonly_rootfs: bool = False
    devices: tuple[dict[str, Any], ...] = ()  # linux.devices: the host's, for --privileged


def normalize_capabilities(names: list[str] | tuple[str, ...], flag: str) -> list[str]:
    """``net_raw``, ``CAP_NET_RAW`` → ``CAP_NET_RAW``; ``ALL`` stays; unknown names are Docker's error."""
    out = []
    for name in names:
        upper = name.upper()
        if upper == "ALL":
            out.append("ALL")
            continue
        cap = upper if upper.startswith("CAP_") else "CAP_" + upper
        if cap not in ALL_CAPABILITIES:
            raise InvalidArgumentError(f'invalid {flag}: unknown capability: "{cap}"')
        out.append(cap)
    return out


def capability_set(cap_add: list[str], cap_drop: list[str], privileged: bool,
                   available: tuple[str, ...] = ALL_CAPABILITIES) -> tuple[str, ...]:
    """Docker's TweakCapabilities; "all" means all the host can grant (``available``)."""
    adds = normalize_capabilities(cap_add, "CapAdd")
    drops = normalize_capabilities(cap_drop, "CapDrop")
    everything = [c for c in ALL_CAPABILITIES if c in available]
    if privileged:
        return tuple(everything)
    if "ALL" in adds:
        caps = [c for c in everything if c not in drops]
    elif "ALL" in drops:
        caps = [c for c in adds if c != "ALL"]
    else:
        caps = [c for c in DEFAULT_CAPABILITIES if c not in drops] + adds
    return tuple(dict.fromkeys(caps))


def merge_env(image_env: list[str], overrides: tuple[str, ...]) -> tuple[str, ...]:
    """Image ENV first, flags replace by key; PATH defaults as in Docker."""
    merged: dict[str, str] = {}
    for item in [*image_env, *overrides]:
        key = item.split("=", 1)[0]
        merged[key] = item
    if "PATH" not in merged:
        merged = {"PATH": f"PATH={DEFAULT_PATH}", **merged}
    return tuple(merged.values())


def config_env(image_env: list[str], user_env: tuple[str, ...]) -> tuple[str, ...]:
    """Docker's Config.Env (daemon/commit.go merge): the image's as it is when no flag sets one, else the flags'
    (each name once, its last value) followed by the image's the flags do not name. No PATH is added here: the
    runtime adds it (``process_env``), so a commit does not bake it into the image."""
    if not user_env:
        return tuple(image_env)
    user: dict[str, str] = {}
    for item in user_env:
        user[item.split("=", 1)[0]] = item
    return (*user.values(), *(e for e in image_env if e.split("=", 1)[0] not in user))


def process_env(config: tuple[str, ...] | list[str], hostname: str, tty: bool, linked: tuple[str, ...] = ()) -> list[str]:
    """Docker's CreateDaemonEnvironment: PATH, HOSTNAME, (with a terminal) TERM and the links' variables, each
    replaced in place by the container's Env, whose other variables follow in their order."""
    env = {"PATH": f"PATH={DEFAULT_PATH}", "HOSTNAME": f"HOSTNAME={hostname}", **({"TERM": "TERM=xterm"} if tty else {})}
    for item in (*linked, *config):
        env[item.split("=", 1)[0]] = item
    return list(env.values())


def merge_process(image: dict[str, Any], o: Overrides) -> ProcessRecord:
    """Docker's rules (daemon/commit.go merge): a non-empty ``--entrypoint`` drops the image's CMD;
    ``--entrypoint ""`` clears the image's ENTRYPOINT but keeps its CMD; a CMD on the line replaces the image's."""
    if o.entrypoint:
        entrypoint, cmd = list(o.entrypoint), list(o.cmd)
    else:
        entrypoint = list(image.get("Entrypoint") or []) if o.entrypoint is None else []
        cmd = list(o.cmd) or list(image.get("Cmd") or [])
    args = tuple(entrypoint + cmd)
    if not args:
        raise InvalidArgumentError("No command specified")
    return ProcessRecord(
        args=args,
        env=config_env(list(image.get("Env") or []), o.env),
        cwd=o.workdir or image.get("WorkingDir") or "/",
        user=o.user if o.user is not None else (image.get("User") or ""),
    )


def parse_env_file(text: str) -> list[str]:
    """Docker's --env-file: KEY=VAL lines, '#' comments, a bare KEY takes the caller's value (resolved by the CLI)."""
    out = []
    for line in text.splitlines():
        line = line.lstrip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _passwd(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#") and line.count(":") >= 3]


def resolve_user(user: str, passwd: str, group: str) -> tuple[int, int, tuple[int, ...], str]:
    """``user[:group]`` (names or numbers) against the container's /etc/passwd and /etc/group.

    Returns uid, gid, supplementary gids and the home directory. Mirrors moby/sys/user.GetExecUser.
    """
    name, _, grp = user.partition(":")
    uid, gid, home, login = 0, 0, "/", "root"
    entries = _passwd(passwd)
    if name:
        match = next((e for e in entries if e[0] == name or (name.isdigit() and e[2] == name)), None)
        if match:
            uid, gid, home, login = int(match[2]), int(match[3]), (match[5] if len(match) > 5 else "/"), match[0]
        elif name.isdigit():
            uid, gid, login = int(name), 0, ""
        else:
            raise InvalidArgumentError(f"unable to find user {name}: no matching entries in passwd file")
    else:
        match = next((e for e in entries if e[2] == "0"), None)
        if match and len(match) > 5:
            home = match[5]
    groups = _passwd(group)
    if grp:
        found = next((g for g in groups if g[0] == grp or (grp.isdigit() and g[2] == grp)), None)
        if found:
            gid = int(found[2])
        elif grp.isdigit():
            gid = int(grp)
        else:
            raise InvalidArgumentError(f"unable to find group {grp}: no matching entries in group file")
    extra = tuple(sorted({int(g[2]) for g in groups if login and login in g[3].split(",") and int(g[2]) != gid}))
    return uid, gid, extra, home or "/"


def _default_mounts(shm_size: int = 64 * 1024 * 1024) -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]


def _tmpfs(v: Volume) -> dict[str, Any]:
    """Docker's --mount type=tmpfs: nosuid, nodev, noexec; size and mode as given."""
    options = ["nosuid", "nodev", "noexec", "ro" if v.readonly else "rw", *(v.tmpfs_options or ())]
    return {"destination": v.destination, "type": "tmpfs", "source": "tmpfs", "options": options}


def _bind(source: str, destination: str, readonly: bool) -> dict[str, Any]:
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "rprivate", "ro" if readonly else "rw"]}


def namespaces(host_network: bool, netns_path: str | None = None,
               shared: dict[str, str | None] | None = None) -> list[dict[str, str]]:
    """``netns_path``: join the namespace the network sandbox prepared (runtime/network) instead of a new one;
    ``shared``: the pid and ipc namespaces as ``RunSpec.namespaces`` says."""
    paths: dict[str, str | None] = {"pid": None, "ipc": None, "uts": None} if shared is None else dict(shared)
    paths.update(mount=None)
    if not host_network:
        paths["network"] = netns_path
    return [{"type": k, **({"path": path} if path else {})} for k in ("pid", "ipc", "uts", "mount", "network", "cgroup")
            if k in paths for path in [paths[k]]]


def _run_mounts(f: RunSpec, mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """/dev/shm bound from elsewhere (--ipc host, container:ID), then the --tmpfs mounts (Docker's defaults first)."""
    if f.shm_source is not None:
        shm = {"destination": "/dev/shm", "type": "bind", "source": f.shm_source, "options": ["rbind", "rprivate"]}
        mounts = [shm if m["destination"] == "/dev/shm" else m for m in mounts]
    for path, options in f.tmpfs:
        merged = ["noexec", "nosuid", "nodev", "rprivate", *(o for o in options.split(",") if o)]
        mounts.append({"destination": path, "type": "tmpfs", "source": "tmpfs", "options": merged})
    return mounts


def build_spec(s: SpecInput) -> dict[str, Any]:
    """The OCI runtime-spec document (config.json) for one container start."""
    sec = s.security
    caps = list(sec.capabilities)
    mounts = _default_mounts(s.flags.shm_size)
    if sec.privileged:  # sysfs and cgroupfs writable, as Docker's --privileged
        mounts = [{**m, "options": [o for o in m["options"] if o != "ro"]} if m["destination"] in ("/sys", "/sys/fs/cgroup")
                  else m for m in mounts]
    if s.init_path:
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": s.init_path, "options": ["bind", "ro"]})
    mounts += [_bind(src, dst, sec.readonly_rootfs) for dst, src in sorted(s.etc_files.items())]
    mounts += [_bind(v.source, v.destination, v.readonly) if v.tmpfs_options is None else _tmpfs(v) for v in s.volumes]
    mounts = _run_mounts(s.flags, mounts)
    process: dict[str, Any] = {
        "terminal": s.tty,
        "user": {"uid": s.uid, "gid": s.gid, **({"additionalGids": list(s.additional_gids)} if s.additional_gids else {})},
        "args": [INIT_PATH, "--", *s.args] if s.init_path else list(s.args),
        "env": list(s.env),
        "cwd": s.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": s.no_new_privileges,
        "oomScoreAdj": 0,
        **({"rlimits": list(s.flags.rlimits)} if s.flags.rlimits else {}),
    }
    linux: dict[str, Any] = {
        "cgroupsPath": s.cgroups_path,
        "resources": s.resources or linux_resources(Limits(), privileged=sec.privileged),
        "namespaces": namespaces(s.host_network, s.netns_path, s.flags.namespaces),
        "maskedPaths": [] if sec.privileged else list(MASKED_PATHS),
        "readonlyPaths": [] if sec.privileged else list(READONLY_PATHS),
    }
    if not s.host_network:  # Docker's defaults inside a network namespace of the container's own
        linux["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}
    if sec.seccomp is not None:
        linux["seccomp"] = sec.seccomp
    if s.flags.sysctls:
        linux["sysctl"] = {**linux.get("sysctl", {}), **s.flags.sysctls}
    if sec.devices or s.flags.devices:
        linux["devices"] = [dict(d) for d in (*sec.devices, *s.flags.devices)]
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": s.rootfs, "readonly": sec.readonly_rootfs},
        # no hostname in the host's UTS namespace (--uts host): runc refuses to set one there
        **({"hostname": s.hostname} if any(n["type"] == "uts" for n in linux["namespaces"]) else {}),
        "mounts": mounts,
        "linux": linux,
    }
