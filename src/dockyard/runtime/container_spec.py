"""Spec assembly: a container's record and image files -> the OCI runtime spec of one start (config.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgumentError
from dockyard.runtime import resources, rootfs
from dockyard.runtime.isolation import init_binary, namespace_paths, peer_pid, resources_for, security_for
from dockyard.runtime.rootfs import SHM_DIR, Paths
from dockyard.runtime.rootless_spec import for_this_namespace
from dockyard.runtime.spec import RunSpec, SpecInput, Volume, build_spec, process_env, resolve_user
from dockyard.runtime.volumes import subpath_source
from dockyard.storage.mount import Mount, mount_all

if TYPE_CHECKING:
    from dockyard.runtime.containers import Container


def prepare(container: Container, mounts: list[Mount], paths: Paths, netns: str | None = None,
            linked_env: tuple[str, ...] = ()) -> None:
    """Mount the root filesystem and write config.json for this start (``linked_env``: the links' variables)."""
    rootfs.mount_rootfs(mounts, paths)
    rec = container.record
    proc = rec["Process"]
    root = paths.rootfs
    group_file = _read(rootfs.secure_join(root, "/etc/group"))
    uid, gid, groups, home = resolve_user(proc["user"], _read(rootfs.secure_join(root, "/etc/passwd")), group_file)
    host = rec["HostConfig"]
    groups = (*groups, *_group_ids(host.get("GroupAdd") or [], group_file))
    if host.get("Dns") or host.get("DnsSearch") or host.get("DnsOptions"):
        paths.resolv.write_text(resolv_conf(_read(Path("/etc/resolv.conf")), host.get("Dns") or [],
                                            host.get("DnsSearch") or [], host.get("DnsOptions") or []))
    hostname, etc, netns = _network_source(host, paths, rec["Config"]["Hostname"], netns)
    tty = bool(rec["Config"].get("Tty"))
    env = process_env(proc["env"], hostname, tty, linked_env)
    env += [f"HOME={home}"] * (not any(e.startswith("HOME=") for e in env))  # runc's default, last as there
    workdir = rootfs.secure_join(root, proc["cwd"])
    if not workdir.exists():
        workdir.mkdir(parents=True)
    for v in rec["Volumes"]:
        if v.get("type") != "tmpfs":
            Path(v["source"]).mkdir(parents=True, exist_ok=True)
    spec = build_spec(SpecInput(
        args=tuple(proc["args"]), env=tuple(env), cwd=proc["cwd"], uid=uid, gid=gid, additional_gids=(gid, *groups),
        rootfs=str(root), hostname=hostname, cgroups_path=f"/dockyard/{container.id}",
        host_network=rec["HostConfig"]["NetworkMode"] == "host", no_new_privileges=rec["NoNewPrivileges"], tty=tty,
        volumes=tuple(Volume(_source(v), v["destination"], v["readonly"], _tmpfs_options(v)) for v in rec["Volumes"]),
        etc_files={f"/etc/{name}": str(etc.dir / name) for name in ("hosts", "hostname", "resolv.conf")},
        netns_path=netns,
        security=security_for(rec["HostConfig"], rec.get("Seccomp", "")), resources=resources_for(rec["HostConfig"]),
        init_path=init_binary() if rec["HostConfig"].get("Init") else None, flags=run_spec(host, paths),
    ))
    tmp = paths.spec.with_suffix(".tmp")
    sources = {d["PathInContainer"]: d["PathOnHost"] for d in host.get("Devices") or ()}
    tmp.write_text(json.dumps(for_this_namespace(spec, sources), indent=1))
    os.replace(tmp, paths.spec)


def _source(entry: dict[str, Any]) -> str:
    """What a mount binds: the volume's directory, or the part of it a subpath names (checked at each start)."""
    return subpath_source(entry["source"], entry["subpath"]) if entry.get("subpath") else entry["source"]


def _tmpfs_options(entry: dict[str, Any]) -> tuple[str, ...] | None:
    return tuple(entry.get("tmpfs_options") or ()) if entry.get("type") == "tmpfs" else None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _network_source(host: dict[str, Any], paths: Paths, hostname: str, netns: str | None) -> tuple[str, Paths, str | None]:
    """Hostname, the directory of the /etc files, and the network namespace: the container's own, or with
    ``--network container:ID`` the other container's (which must run), as Docker shares them."""
    mode = host.get("NetworkMode") or ""
    if not mode.startswith("container:"):
        return hostname, paths, netns
    peer = Paths(paths.dir.parent, mode[10:])
    pid = peer_pid(paths.dir.parent, mode[10:], "net")
    return _read(peer.hostname).strip() or hostname, peer, f"/proc/{pid}/ns/net"


def run_spec(host: dict[str, Any], paths: Paths) -> RunSpec:
    """The spec parts of the namespace, device, ulimit, sysctl, shm and tmpfs flags, from a stored HostConfig."""
    shared = namespace_paths(host, paths.dir.parent)
    shm_size = host.get("ShmSize") or 64 * 1024 * 1024
    shm_source = _shm_source(host.get("IpcMode") or "", paths, shm_size)
    devices = () if host.get("Privileged") else tuple(
        resources.device_node(d["PathOnHost"], d["PathInContainer"]) for d in host.get("Devices") or ())
    return RunSpec(namespaces=shared, rlimits=tuple(resources.rlimits(host.get("Ulimits") or [])), devices=devices,
                   sysctls=dict(host.get("Sysctls") or {}), shm_size=shm_size,
                   shm_source=shm_source, tmpfs=tuple((host.get("Tmpfs") or {}).items()))


def _shm_source(ipc: str, paths: Paths, size: int) -> str | None:
    """The /dev/shm to bind, as Docker's IPC modes have it: the host's, the container's own tmpfs on the host
    (``shareable``, so others can join it), or the donor's (``container:ID``); None: a tmpfs of its own."""
    if ipc == "host":
        return "/dev/shm"
    if ipc == "shareable":
        shm = paths.dir / SHM_DIR
        shm.mkdir(exist_ok=True)
        if not rootfs.is_mounted(shm):
            mount_all([Mount("tmpfs", "shm", ("nosuid", "nodev", "noexec", "mode=1777", f"size={size}"))], shm)
        return str(shm)
    if ipc.startswith("container:"):
        donor = paths.dir.parent / ipc[10:] / SHM_DIR
        if not rootfs.is_mounted(donor):
            raise InvalidArgumentError(f"can't join IPC of container {ipc[10:]}: non-shareable IPC "
                                       "(hint: use IpcMode:shareable for the donor container)")
        return str(donor)
    return None


def _group_ids(names: list[str], group_file: str) -> tuple[int, ...]:
    """``--group-add`` names or numbers, against the container's /etc/group (Docker's message when absent)."""
    known = {f[0]: int(f[2]) for f in (ln.split(":") for ln in group_file.splitlines()) if len(f) > 2 and f[2].isdigit()}
    out = []
    for name in names:
        if name.isdigit():
            out.append(int(name))
        elif name in known:
            out.append(known[name])
        else:
            raise InvalidArgumentError(f"Unable to find group {name}: no matching entries in group file")
    return tuple(out)


def resolv_conf(host_text: str, dns: list[str], search: list[str], options: list[str]) -> str:
    """libnetwork's resolvconf.Build: search, nameservers, options; what the flags leave out comes from the host."""
    from dockyard.runtime.rootfs import resolv_conf as host_resolv

    lines = host_resolv(host_text).splitlines()
    host_values = {key: [v for ln in lines if ln.startswith(key + " ") for v in ln.split()[1:]]
                   for key in ("nameserver", "search", "options")}
    servers, search, options = dns or host_values["nameserver"], search or host_values["search"], options or host_values["options"]
    out = ""
    if search and " ".join(search).strip() != ".":
        out += "search " + " ".join(search) + "\n"
    out += "".join(f"nameserver {ns}\n" for ns in servers)
    if options:
        out += "options " + " ".join(options) + "\n"
    return out
