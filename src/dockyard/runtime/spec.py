"""The OCI runtime spec dockyard writes, built by small pure functions.

``merge_process`` applies Docker's rules for combining the image config with
``run``'s flags; ``build_spec`` turns the result into ``config.json`` with
Docker's defaults (capabilities, namespaces, mounts, masked /proc paths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgumentError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# moby oci/caps/defaults.go
DEFAULT_CAPABILITIES: tuple[str, ...] = tuple(
    "CAP_" + c
    for c in (
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
        "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    )
)

# moby oci/defaults.go
MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
)
READONLY_PATHS: tuple[str, ...] = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


@dataclass(frozen=True, slots=True)
class Overrides:
    """What ``run``/``create`` flags say about the process (None: take the image's)."""

    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Process:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str


@dataclass(frozen=True, slots=True)
class Volume:
    source: str
    destination: str
    readonly: bool = False


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


def merge_env(image_env: list[str], overrides: tuple[str, ...]) -> tuple[str, ...]:
    """Image ENV first, flags replace by key; PATH defaults as in Docker."""
    merged: dict[str, str] = {}
    for item in [*image_env, *overrides]:
        key = item.split("=", 1)[0]
        merged[key] = item
    if "PATH" not in merged:
        merged = {"PATH": f"PATH={DEFAULT_PATH}", **merged}
    return tuple(merged.values())


def merge_process(image: dict[str, Any], o: Overrides) -> Process:
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
    return Process(
        args=args,
        env=merge_env(list(image.get("Env") or []), o.env),
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


def _default_mounts() -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
    ]


def _bind(source: str, destination: str, readonly: bool) -> dict[str, Any]:
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "rprivate", "ro" if readonly else "rw"]}


def namespaces(host_network: bool) -> list[dict[str, str]]:
    kinds = ["pid", "ipc", "uts", "mount"] + ([] if host_network else ["network"])
    return [{"type": k} for k in kinds]


def build_spec(s: SpecInput) -> dict[str, Any]:
    """The OCI runtime-spec document (config.json) for one container start."""
    caps = list(DEFAULT_CAPABILITIES)
    mounts = _default_mounts()
    mounts += [_bind(src, dst, False) for dst, src in sorted(s.etc_files.items())]
    mounts += [_bind(v.source, v.destination, v.readonly) for v in s.volumes]
    process: dict[str, Any] = {
        "terminal": s.tty,
        "user": {"uid": s.uid, "gid": s.gid, **({"additionalGids": list(s.additional_gids)} if s.additional_gids else {})},
        "args": list(s.args),
        "env": list(s.env),
        "cwd": s.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": s.no_new_privileges,
    }
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": s.rootfs, "readonly": False},
        "hostname": s.hostname,
        "mounts": mounts,
        "linux": {
            "cgroupsPath": s.cgroups_path,
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": namespaces(s.host_network),
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
