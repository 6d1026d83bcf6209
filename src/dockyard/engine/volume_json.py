"""Docker's JSON for volumes, from typed records: ``volume inspect`` and a container's ``Mounts``.

Both faces print these (the CLI's ``inspect``, the Engine API's responses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.runtime.volumes import Volume


def volume_json(volume: Volume) -> dict[str, Any]:
    """Docker's ``volume inspect`` document."""
    return {"CreatedAt": volume.created, "Driver": volume.driver, "Labels": volume.labels,
            "Mountpoint": str(volume.mountpoint), "Name": volume.name, "Options": volume.options, "Scope": "local"}


def inspect_mounts(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``Mounts`` array of ``docker inspect``: volumes with their name and driver, binds with propagation."""
    out = []
    for v in record.get("Volumes", []):
        if v.get("type") == "tmpfs":
            out.append({"Type": "tmpfs", "Source": "", "Destination": v["destination"], "Mode": "", "RW": not v["readonly"],
                        "Propagation": ""})
        elif v.get("type", "bind") == "volume":
            out.append({"Type": "volume", "Name": v["name"], "Source": v["source"], "Destination": v["destination"],
                        "Driver": v.get("driver", "local"), "Mode": v.get("mode", ""), "RW": not v["readonly"],
                        "Propagation": ""})
        else:
            mode = v.get("mode", "ro" if v["readonly"] else "")
            out.append({"Type": "bind", "Source": v["source"], "Destination": v["destination"], "Mode": mode,
                        "RW": not v["readonly"], "Propagation": v.get("propagation") or "rprivate"})
    return out
