"""``POST /containers/create``'s body (Docker's Config with HostConfig and NetworkingConfig) as the engine's
``CreateOptions``: the same options ``dockyard run``/``create`` build from their flags.

Only translation happens here: the engine checks the values at create with dockerd's messages, as it does
for the CLI. Fields dockyard does not honour are ignored, as dockerd ignores what its platform lacks.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine.container_options import CreateOptions, HealthConfig, Isolation, NetworkOptions

# the boolean --security-opt values Docker's daemon accepts for no-new-privileges
_TRUE = ("", "true", "1", "True")
_BOOLS = (*_TRUE, "false", "0", "False")


def create_options(body: object, name: str | None, version: tuple[int, int] = (1, 45)) -> CreateOptions:
    """The options of one create; InvalidArgumentError (400) for a body that is not Docker's shape."""
    from dockyard.engine.container_options import CreateOptions, Overrides

    config = _object(body, "body")
    host = _object(config.get("HostConfig") or {}, "HostConfig")
    image = config.get("Image")
    if not isinstance(image, str) or not image:
        raise InvalidArgumentError("config cannot be empty in order to create a container")
    entrypoint = config.get("Entrypoint")
    overrides = Overrides(
        cmd=strings(config.get("Cmd"), "Cmd"),
        entrypoint=None if entrypoint is None else tuple(a for a in strings(entrypoint, "Entrypoint") if a),
        env=strings(config.get("Env"), "Env"), workdir=config.get("WorkingDir") or None,
        user=config.get("User") or None,
    )
    attached = any(config.get(k) for k in ("AttachStdin", "AttachStdout", "AttachStderr"))
    isolation = _isolation(config, host)
    return CreateOptions(
        image=image, name=name or None, overrides=overrides, hostname=config.get("Hostname") or None,
        network=host.get("NetworkMode") or "default", net=_network(config, host, version),
        volumes=_volumes(config, host), mounts=tuple(_mount_flag(m) for m in host.get("Mounts") or ()),
        auto_remove=bool(host.get("AutoRemove")), interactive=bool(config.get("OpenStdin")),
        tty=bool(config.get("Tty")), detach=not attached, no_new_privileges=isolation.no_new_privileges,
        isolation=isolation, healthcheck=_healthcheck(config.get("Healthcheck")),
        links=strings(host.get("Links"), "HostConfig.Links"),
        volumes_from=strings(host.get("VolumesFrom"), "HostConfig.VolumesFrom"),
    )


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{what}: a JSON object is required")
    return value


def strings(value: object, what: str) -> tuple[str, ...]:
    """Docker's StrSlice: a list of strings, or one string."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidArgumentError(f"{what}: a string or a list of strings is required")


def _volumes(config: dict[str, Any], host: dict[str, Any]) -> tuple[str, ...]:
    """``Binds`` as ``-v`` gives them, then the anonymous volumes of ``Config.Volumes`` no bind covers."""
    binds = strings(host.get("Binds"), "HostConfig.Binds")
    bound = {(b.split(":") + [""])[1] or b for b in binds}  # SRC:DEST[:MODE], or an anonymous DEST
    anonymous = tuple(path for path in (config.get("Volumes") or {}) if path not in bound)
    return (*binds, *anonymous)


def _mount_flag(mount: object) -> str:
    """A ``HostConfig.Mounts`` entry as the ``--mount`` value the CLI would have been given."""
    m = _object(mount, "HostConfig.Mounts")
    fields = [f"type={m.get('Type') or 'volume'}"]
    if m.get("Source"):
        fields.append(f"source={m['Source']}")
    fields.append(f"target={m.get('Target') or ''}")
    if m.get("ReadOnly"):
        fields.append("readonly")
    propagation = (m.get("BindOptions") or {}).get("Propagation")
    if propagation:
        fields.append(f"bind-propagation={propagation}")
    if (m.get("VolumeOptions") or {}).get("NoCopy"):
        fields.append("volume-nocopy")
    if (m.get("VolumeOptions") or {}).get("Subpath"):
        fields.append(f"volume-subpath={m['VolumeOptions']['Subpath']}")
    tmpfs = m.get("TmpfsOptions") or {}
    if tmpfs.get("SizeBytes"):
        fields.append(f"tmpfs-size={int(tmpfs['SizeBytes'])}")
    if tmpfs.get("Mode"):
        fields.append(f"tmpfs-mode={int(tmpfs['Mode']):o}")
    if any("," in f for f in fields):
        raise InvalidArgumentError(f"invalid mount config: {json.dumps(m)}")
    return ",".join(fields)


def _publish_specs(bindings: dict[str, Any]) -> tuple[str, ...]:
    """``PortBindings`` as ``-p`` values: ``[IP:][HOSTPORT:]PORT/PROTO`` per binding."""
    out = []
    for key, hosts in bindings.items():
        for binding in hosts or [{}]:
            ip, port = (binding or {}).get("HostIp") or "", (binding or {}).get("HostPort") or ""
            ip = f"[{ip}]" if ":" in ip else ip
            out.append(f"{ip}:{port}:{key}" if ip else f"{port}:{key}" if port else key)
    return tuple(out)


def _network(config: dict[str, Any], host: dict[str, Any], version: tuple[int, int]) -> NetworkOptions:
    from dockyard.api.endpoints import networking_config
    from dockyard.engine.networks import run_network_options

    endpoint, others = networking_config(config, host.get("NetworkMode") or "default", version)
    return run_network_options(list(_publish_specs(host.get("PortBindings") or {})), bool(host.get("PublishAllPorts")),
                               list(config.get("ExposedPorts") or {}), list(strings(host.get("ExtraHosts"), "ExtraHosts")),
                               endpoint, others)


def _security_opts(opts: tuple[str, ...]) -> tuple[bool, str, list[str]]:
    """Docker's parseSecurityOpts on the daemon's side (the CLI sent a seccomp profile's JSON itself)."""
    no_new_privileges, profile, kept = False, "", []
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep and opt != "no-new-privileges":
            key, sep, value = opt.partition(":")
        if key == "no-new-privileges" and value in _BOOLS:
            no_new_privileges = value in _TRUE
        elif key == "seccomp" and sep:
            profile = value
        elif key not in ("apparmor", "label") or not sep:
            raise InvalidArgumentError(f'invalid --security-opt 2: "{opt}"')
        kept.append(opt)
    return no_new_privileges, profile, kept


def _run_flags(host: dict[str, Any]) -> dict[str, Any]:
    """HostConfig with Docker's defaults filled where a client may leave a device's fields out."""
    devices = [{"PathOnHost": d.get("PathOnHost", ""), "PathInContainer": d.get("PathInContainer") or d.get("PathOnHost", ""),
                "CgroupPermissions": d.get("CgroupPermissions") or "rwm"} for d in host.get("Devices") or ()]
    ulimits = [{"Name": u.get("Name", ""), "Soft": int(u.get("Soft") or 0), "Hard": int(u.get("Hard") or 0)}
               for u in host.get("Ulimits") or ()]
    return {**host, "Devices": devices, "Ulimits": ulimits, "ContainerIDFile": ""}


def _isolation(config: dict[str, Any], host: dict[str, Any]) -> Isolation:
    from dockyard.engine.container_options import Isolation, Limits, RestartPolicy, RunFlags

    policy = host.get("RestartPolicy") or {}
    name, retries = policy.get("Name") or "no", int(policy.get("MaximumRetryCount") or 0)
    restart = RestartPolicy.parse(f"{name}:{retries}" if retries else name)
    if host.get("AutoRemove") and restart.name not in ("", "no"):
        raise InvalidArgumentError("can't create 'AutoRemove' container with restart policy")
    no_new_privileges, profile, security_opt = _security_opts(strings(host.get("SecurityOpt"), "SecurityOpt"))
    limits = Limits(memory=int(host.get("Memory") or 0), memory_swap=int(host.get("MemorySwap") or 0),
                    nano_cpus=int(host.get("NanoCpus") or 0), cpu_shares=int(host.get("CpuShares") or 0),
                    pids_limit=int(host.get("PidsLimit") or 0))
    stop_timeout = config.get("StopTimeout")
    return Isolation(
        limits=limits, cap_add=strings(host.get("CapAdd"), "CapAdd"), cap_drop=strings(host.get("CapDrop"), "CapDrop"),
        privileged=bool(host.get("Privileged")), read_only=bool(host.get("ReadonlyRootfs")),
        no_new_privileges=no_new_privileges, seccomp_profile=profile, security_opt=tuple(security_opt),
        init=bool(host.get("Init")), restart=restart, runtime=host.get("Runtime") or "runc",
        stop_signal=config.get("StopSignal") or None, stop_timeout=int(stop_timeout) if stop_timeout is not None else None,
        labels=tuple((config.get("Labels") or {}).items()), flags=RunFlags.parse(_run_flags(host)),
    )


def _healthcheck(value: object) -> HealthConfig | None:
    if not value:
        return None
    from dockyard.engine.container_options import HealthConfig

    h = _object(value, "Healthcheck")
    for key in ("Interval", "Timeout", "StartPeriod"):
        if int(h.get(key) or 0) < 0:
            raise InvalidArgumentError(f"{key} in Healthcheck cannot be negative")
    return HealthConfig(strings(h.get("Test"), "Healthcheck.Test"), int(h.get("Interval") or 0),
                        int(h.get("Timeout") or 0), int(h.get("StartPeriod") or 0), int(h.get("Retries") or 0))
