"""Spec assembly: a container's record and image files -> the OCI runtime spec of one start (config.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.runtime import rootfs
from dockyard.runtime.isolation import init_binary, resources_for, security_for
from dockyard.runtime.rootfs import Paths
from dockyard.runtime.spec import SpecInput, Volume, build_spec, process_env, resolve_user

if TYPE_CHECKING:
    from dockyard.runtime.containers import Container
    from dockyard.storage.driver import Mount


def prepare(container: Container, mounts: list[Mount], paths: Paths, netns: str | None = None) -> None:
    """Mount the root filesystem and write config.json for this start."""
    rootfs.mount_rootfs(mounts, paths)
    rec = container.record
    proc = rec["Process"]
    root = paths.rootfs
    uid, gid, groups, home = resolve_user(proc["user"], _read(rootfs.secure_join(root, "/etc/passwd")),
                                          _read(rootfs.secure_join(root, "/etc/group")))
    tty = bool(rec["Config"].get("Tty"))
    env = process_env(proc["env"], rec["Config"]["Hostname"], tty)
    env += [f"HOME={home}"] * (not any(e.startswith("HOME=") for e in env))  # runc's default, last as there
    workdir = rootfs.secure_join(root, proc["cwd"])
    if not workdir.exists():
        workdir.mkdir(parents=True)
    for v in rec["Volumes"]:
        if v.get("type") != "tmpfs":
            Path(v["source"]).mkdir(parents=True, exist_ok=True)
    spec = build_spec(SpecInput(
        args=tuple(proc["args"]), env=tuple(env), cwd=proc["cwd"], uid=uid, gid=gid, additional_gids=(gid, *groups),
        rootfs=str(root), hostname=rec["Config"]["Hostname"], cgroups_path=f"/dockyard/{container.id}",
        host_network=rec["HostConfig"]["NetworkMode"] == "host", no_new_privileges=rec["NoNewPrivileges"], tty=tty,
        volumes=tuple(Volume(v["source"], v["destination"], v["readonly"], _tmpfs_options(v)) for v in rec["Volumes"]),
        etc_files={"/etc/hosts": str(paths.hosts), "/etc/hostname": str(paths.hostname), "/etc/resolv.conf": str(paths.resolv)},
        netns_path=netns,
        security=security_for(rec["HostConfig"], rec.get("Seccomp", "")), resources=resources_for(rec["HostConfig"]),
        init_path=init_binary() if rec["HostConfig"].get("Init") else None,
    ))
    tmp = paths.spec.with_suffix(".tmp")
    tmp.write_text(json.dumps(spec, indent=1))
    os.replace(tmp, paths.spec)


def _tmpfs_options(entry: dict[str, Any]) -> tuple[str, ...] | None:
    return tuple(entry.get("tmpfs_options") or ()) if entry.get("type") == "tmpfs" else None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
