"""Docker's EndpointSettings in request bodies (``POST /networks/{id}/connect``'s EndpointConfig, and
``POST /containers/create``'s NetworkingConfig) as the engine's endpoint requests."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine.networks import NetworkRequest


def string_map(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{what}: a JSON object is required")
    return {str(k): str(v) for k, v in value.items()}


def _strings(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgumentError(f"{what}: a list of strings is required")
    return tuple(value)


def endpoint_settings(value: object) -> NetworkRequest:
    """Docker's EndpointSettings (of a connect body, or a create body's NetworkingConfig) as the engine's request."""
    from dockyard.engine.networks import endpoint_request

    doc = {} if value is None else value
    if not isinstance(doc, dict):
        raise InvalidArgumentError("EndpointSettings: a JSON object is required")
    ipam = doc.get("IPAMConfig") or {}
    if not isinstance(ipam, dict):
        raise InvalidArgumentError("IPAMConfig: a JSON object is required")
    opts = doc.get("DriverOpts")
    return endpoint_request(_strings(doc.get("Aliases"), "Aliases"), ipam.get("IPv4Address") or "",
                            ipam.get("IPv6Address") or "", doc.get("MacAddress") or "",
                            _strings(ipam.get("LinkLocalIPs"), "LinkLocalIPs"), _strings(doc.get("Links"), "Links"),
                            None if opts is None else string_map(opts, "DriverOpts"))


def _mode_key(key: str, mode: str) -> bool:
    return key == mode or (mode == "default" and key == "bridge")


def networking_config(config: dict[str, Any], mode: str,
                      version: tuple[int, int]) -> tuple[NetworkRequest, tuple[tuple[str, NetworkRequest], ...]]:
    """A create body's NetworkingConfig: (what is asked of the mode's network, the other networks to be on).
    Before API 1.44 Docker takes one endpoint (applied to the mode's network) and refuses more, in its words."""
    endpoints = (config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    if not isinstance(endpoints, dict):
        raise InvalidArgumentError("NetworkingConfig.EndpointsConfig: a JSON object is required")
    mac = config.get("MacAddress") or ""  # container-wide, deprecated in 1.44: the mode's network's endpoint's
    own_namespace = mode not in ("host", "none") and not mode.startswith("container:")
    if version < (1, 44):
        if len(endpoints) > 1:
            raise InvalidArgumentError(f"Container cannot be connected to network endpoints: {', '.join(endpoints)}")
        if mac and not own_namespace:
            raise InvalidArgumentError("conflicting options: mac-address and the network mode")
        # the older API ignored an endpoint's MAC: the container-wide one alone counts
        return replace(endpoint_settings(next(iter(endpoints.values()), None)), mac_address=mac), ()
    primary = endpoint_settings(next((v for k, v in endpoints.items() if _mode_key(k, mode)), None))
    others = tuple((k, endpoint_settings(v)) for k, v in endpoints.items() if not _mode_key(k, mode))
    if mac and own_namespace:
        if primary.mac_address and primary.mac_address != mac:
            raise InvalidArgumentError("the container-wide MAC address must match the endpoint-specific MAC address "
                                       "for the main network, or be left empty")
        primary = replace(primary, mac_address=mac)
    return primary, others
