"""Where a registry name leads: API host, mirrors, plain HTTP or TLS with which certificates.

Docker's rules: ``docker.io`` is served by ``registry-1.docker.io`` and its
logins are stored under ``https://index.docker.io/v1/``; ``localhost`` and
127.0.0.0/8 (and hosts listed as insecure) are tried over HTTPS without
verification, then over plain HTTP; ``certs.d/HOST:PORT/`` holds ``*.crt``
CAs and ``*.cert``/``*.key`` client pairs. Mirrors are tried first for
docker.io (``registry-mirrors``) and, beyond Docker, for any host listed
under ``registry-hosts`` (as containerd's hosts.toml allows).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from dockyard.errors import InvalidArgumentError
from dockyard.registry.client.transport import TLSOptions

DOCKER_HUB = "docker.io"
HUB_API_HOST = "registry-1.docker.io"
HUB_INDEX_HOST = "index.docker.io"
HUB_AUTH_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """Registry configuration as the engine read it (daemon.json, then flags)."""

    mirrors: tuple[str, ...] = ()  # base URLs tried first for docker.io
    host_mirrors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # any host -> mirror URLs
    insecure: tuple[str, ...] = ()  # "host:port", "host" or CIDR
    certs_dir: Path | None = None  # Docker's /etc/docker/certs.d
    read_timeout: float = 60.0  # seconds without a byte before a request or blob read fails (then resumes)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One base URL to try for a registry, and whether it is a mirror (pull only)."""

    base_url: str
    tls: TLSOptions
    mirror: bool = False

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc


def api_host(domain: str) -> str:
    return HUB_API_HOST if domain in (DOCKER_HUB, HUB_INDEX_HOST) else domain


def auth_key(domain: str) -> str:
    """The key a login is stored under in config.json."""
    return HUB_AUTH_KEY if domain in (DOCKER_HUB, HUB_INDEX_HOST, HUB_API_HOST) else domain


def normalize_server(server: str) -> str:
    """A login server as typed (``https://host/v2/``, ``docker.io``) to its config.json key."""
    if not server:
        return HUB_AUTH_KEY
    host = urlsplit(server).netloc if "://" in server else server.split("/", 1)[0]
    return auth_key(host)


def _host_only(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_insecure(host: str, options: RegistryOptions) -> bool:
    name = _host_only(host)
    if name == "localhost" or host in options.insecure or name in options.insecure:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    for entry in options.insecure:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def tls_for(host: str, options: RegistryOptions) -> TLSOptions:
    verify = not is_insecure(host, options)
    if options.certs_dir is None or not (options.certs_dir / host).is_dir():
        return TLSOptions(verify=verify)
    folder = options.certs_dir / host
    cas = sorted(folder.glob("*.crt"))
    certs = sorted(folder.glob("*.cert"))
    cert = str(certs[0]) if certs else None
    key = str(certs[0].with_suffix(".key")) if certs else None
    return TLSOptions(verify=verify, ca_file=str(cas[0]) if cas else None, client_cert=cert, client_key=key)


def _endpoints_for_host(host: str, options: RegistryOptions, mirror: bool = False) -> list[Endpoint]:
    tls = tls_for(host, options)
    out = [Endpoint(f"https://{host}", tls, mirror)]
    if not tls.verify:
        out.append(Endpoint(f"http://{host}", tls, mirror))
    return out


def _mirror_endpoint(url: str, options: RegistryOptions) -> Endpoint:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return Endpoint(base, tls_for(parts.netloc, options), mirror=True)


def endpoints(domain: str, options: RegistryOptions, *, push: bool = False) -> list[Endpoint]:
    """Base URLs to try in order: mirrors first (pulls only), then the registry itself."""
    host = api_host(domain)
    mirrors: tuple[str, ...] = ()
    if not push:
        mirrors = options.mirrors if domain == DOCKER_HUB else tuple(options.host_mirrors.get(domain, ()))
    return [_mirror_endpoint(m, options) for m in mirrors] + _endpoints_for_host(host, options)


def load_options(path: Path | None, *, mirrors: list[str] = (), insecure: list[str] = (), certs_dir: Path | None = None) -> RegistryOptions:  # type: ignore[assignment]
    """``daemon.json``'s registry keys, with flags (given first) overriding the file's lists."""
    data: dict[str, Any] = {}
    if path is not None and path.is_file():
        try:
            data = json.loads(path.read_text())
        except (ValueError, OSError) as exc:
            raise InvalidArgumentError(f"unable to configure the registries from {path}: {exc}") from exc
    file_mirrors = [str(m) for m in data.get("registry-mirrors") or []]
    file_insecure = [str(h) for h in data.get("insecure-registries") or []]
    hosts = data.get("registry-hosts") or {}
    host_mirrors = {str(h): tuple(str(m) for m in (v or {}).get("mirrors") or []) for h, v in hosts.items() if isinstance(v, dict)}
    for url in [*mirrors, *file_mirrors]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgumentError(f"invalid mirror: unsupported scheme or missing host in {url!r}")
    return RegistryOptions(
        mirrors=tuple(mirrors or file_mirrors),
        host_mirrors=host_mirrors,
        insecure=(*insecure, *file_insecure),
        certs_dir=certs_dir,
        read_timeout=_read_timeout(data.get("registry-read-timeout", 60.0), path),
    )


def _read_timeout(value: object, path: Path | None) -> float:
    """dockyard's own daemon.json key (Docker has none): seconds, a positive number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 86400:
        raise InvalidArgumentError(f"unable to configure the registries from {path}: registry-read-timeout must be a number of seconds above 0")
    return float(value)
