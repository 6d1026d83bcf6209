"""Docker's JSON documents of the system service, one copy for both faces: ``info`` (``docker info
--format '{{json .}}'`` and ``GET /info``) and ``system df`` (``GET /system/df``)."""

from __future__ import annotations

import time

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from dockyard.engine.system import DiskUsage, SystemInfo


def info_document(info: SystemInfo) -> dict[str, Any]:
    """The Engine API's SystemInfo, with the fields dockyard has, in dockerd 20.10's order."""
    return {
        "ID": info.id, "Containers": info.containers, "ContainersRunning": info.running,
        "ContainersPaused": info.paused, "ContainersStopped": info.stopped, "Images": info.images,
        "Driver": info.driver, "DriverStatus": [list(pair) for pair in info.driver_status],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                    "Log": [info.logging_driver]},
        "MemoryLimit": True, "SwapLimit": True, "KernelMemory": False, "KernelMemoryTCP": False,
        "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True, "PidsLimit": True,
        "IPv4Forwarding": True, "BridgeNfIptables": True, "BridgeNfIp6tables": True,
        "Debug": False, "NFd": 0, "OomKillDisable": False, "NGoroutines": 0,
        "SystemTime": now_rfc3339(), "LoggingDriver": info.logging_driver,
        "CgroupDriver": info.cgroup_driver, "CgroupVersion": info.cgroup_version, "NEventsListener": 0,
        "KernelVersion": info.kernel_version, "OperatingSystem": info.operating_system, "OSVersion": info.os_version,
        "OSType": info.os_type, "Architecture": info.architecture, "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}},
            "Mirrors": [],
        },
        "NCPU": info.ncpu, "MemTotal": info.mem_total, "GenericResources": None, "DockerRootDir": info.root_dir,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": info.name,
        "Labels": [], "ExperimentalBuild": False, "ServerVersion": info.server_version,
        "Runtimes": {name: {"path": name} for name in sorted(info.runtimes)}, "DefaultRuntime": info.default_runtime,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False, "Error": "",
                  "RemoteManagers": None},
        "LiveRestoreEnabled": False, "Isolation": "", "InitBinary": "", "SecurityOptions": list(info.security_options),
        "Warnings": None,
    }  # fmt: skip


def now_rfc3339() -> str:
    stamp = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp // 10**9)) + f".{stamp % 10**9:09d}Z"


def disk_usage_document(usage: DiskUsage) -> dict[str, Any]:
    """``GET /system/df``: moby's DiskUsage (image and container summaries with their sizes)."""
    from dockyard.oci.timefmt import parse_time

    def unix(value: str) -> int:
        moment = parse_time(value)
        return int(moment.timestamp()) if moment else 0

    images = [{
        "Containers": i.containers, "Created": int(i.created.timestamp()) if i.created else 0, "Id": i.id,
        "Labels": None, "ParentId": "", "RepoDigests": None, "RepoTags": list(i.tags) or ["<none>:<none>"],
        "SharedSize": i.shared_size, "Size": i.size, "VirtualSize": i.size,
    } for i in usage.images]  # fmt: skip
    containers = [{
        "Id": c.id, "Names": [f"/{c.names}"], "Image": c.image, "ImageID": "", "Command": c.command,
        "Created": unix(c.created), "Ports": [], "SizeRw": c.size_rw, "SizeRootFs": 0, "Labels": {},
        "State": c.status, "Status": c.status, "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": {}}, "Mounts": [{"Type": "volume"} for _ in range(c.local_volumes)],
    } for c in usage.containers]  # fmt: skip
    volumes = [{
        "CreatedAt": "", "Driver": v.driver, "Labels": None, "Mountpoint": "", "Name": v.name, "Options": None,
        "Scope": "local", "UsageData": {"RefCount": v.links, "Size": v.size},
    } for v in usage.volumes]  # fmt: skip
    cache = [{
        "ID": b.id, "Parent": "", "Type": b.type, "Description": "", "InUse": b.in_use, "Shared": b.shared,
        "Size": b.size, "CreatedAt": b.created, "LastUsedAt": None, "UsageCount": 0,
    } for b in usage.build_cache]  # fmt: skip
    return {
        "LayersSize": usage.layers_size, "Images": images, "Containers": containers, "Volumes": volumes,
        "BuildCache": cache or None, "BuilderSize": sum(b.size for b in usage.build_cache if not b.shared),
    }  # fmt: skip
