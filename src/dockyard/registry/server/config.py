"""The server's configuration: one typed value, read from a YAML file and overridden by flags.

The file (``--config FILE``) looks like::

    addr: 127.0.0.1:5000
    root: /var/lib/dockyard/registry
    workers: 4
    auth:
      htpasswd: /etc/dockyard/htpasswd          # Basic auth, bcrypt entries
      token:                                    # or token auth with the built-in endpoint
        acl: /etc/dockyard/registry-acl.yaml
        realm: https://registry.example/auth/token   # default: this server's /auth/token
        service: dockyard-registry
        ttl: 300
    tls: {cert: /etc/ssl/reg.pem, key: /etc/ssl/reg.key}
    proxy: {remote: https://registry-1.docker.io, username: u, password: p, ttl: 300}
    limits: {max_blob_size: 10737418240}
    gc: {grace: 3600, upload_ttl: 604800}
    storage:                                    # default: the filesystem under root
      s3:
        endpoint: http://127.0.0.1:7480
        region: us-east-1
        bucket: registry
        accesskey: AKIA...                      # else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
        secretkey: ...                          # else ~/.aws/credentials (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE)
        sessiontoken: ...                       # temporary credentials; else AWS_SESSION_TOKEN with the env keys
        addressing: path                        # or virtual: <bucket>.<endpoint host>
        prefix: dockyard                        # optional: keys start with it
        redirect: false                         # true: blob GETs answer 307 to a presigned URL
        partsize: 8388608                       # multipart part size (>= 5 MiB)
        lockttl: 5                              # seconds a dead server keeps an upload locked

Only the CLI (the composition edge here) calls ``load``; library code takes a
``ServerConfig``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgumentError


class ConfigError(InvalidArgumentError):
    """The configuration file or a flag is invalid."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    root: Path
    addr: str = "127.0.0.1:5000"
    workers: int = 1
    htpasswd: Path | None = None
    token_acl: Path | None = None
    token_realm: str | None = None
    token_service: str = "dockyard-registry"
    token_ttl: int = 300
    tls_cert: Path | None = None
    tls_key: Path | None = None
    proxy_remote: str | None = None
    proxy_username: str | None = None
    proxy_password: str | None = None
    proxy_ttl: float = 300.0
    max_blob_size: int | None = None
    automatic_mount: bool = True
    gc_grace: float = 3600.0
    upload_ttl: float = 7 * 24 * 3600.0
    s3_endpoint: str | None = None
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_session_token: str | None = None
    s3_addressing: str = "path"
    s3_prefix: str = ""
    s3_redirect: bool = False
    s3_part_size: int = 8 << 20
    s3_lock_ttl: float = 5.0
    shutdown_timeout: float = 60.0
    access_log: bool = True

    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.addr.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"invalid address {self.addr!r}: want HOST:PORT")
        return host.strip("[]") or "0.0.0.0", int(port)

    def check(self) -> ServerConfig:
        if self.htpasswd and self.token_acl:
            raise ConfigError("choose one of --htpasswd and --token-acl")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        if self.s3_addressing not in ("path", "virtual"):
            raise ConfigError(f"invalid S3 addressing {self.s3_addressing!r}: want path or virtual")
        if self.s3_endpoint and not self.s3_bucket:
            raise ConfigError("the S3 storage needs a bucket")
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        self.host_port()
        return self

    def with_overrides(self, **values: Any) -> ServerConfig:
        """Flags override the file; a flag left unset (None) keeps the file's value."""
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in values.items() if k in known and v is not None})


def _path(value: Any) -> Path | None:
    return Path(value) if value else None


def read_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from exc
    try:
        import yaml  # YAML is optional: a JSON file is valid YAML and reads without it

        data = yaml.safe_load(text)
    except ImportError:
        data = json.loads(text)
    except Exception as exc:  # yaml's error types are only known once it is imported
        raise ConfigError(f"invalid configuration {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid configuration {path}: not a mapping")
    return data


def load(path: Path | None, root: Path) -> ServerConfig:
    """The configuration in ``path`` (defaults where it is silent, ``root`` as the storage root)."""
    if path is None:
        return ServerConfig(root=root)
    data = read_document(path)
    auth = data.get("auth") or {}
    token = auth.get("token") or {}
    tls = data.get("tls") or {}
    proxy = data.get("proxy") or {}
    limits = data.get("limits") or {}
    gc = data.get("gc") or {}
    s3 = (data.get("storage") or {}).get("s3") or {}
    try:
        return ServerConfig(
            root=Path(data["root"]) if data.get("root") else root,
            addr=str(data.get("addr", "127.0.0.1:5000")),
            workers=int(data.get("workers", 1)),
            htpasswd=_path(auth.get("htpasswd")),
            token_acl=_path(token.get("acl")),
            token_realm=token.get("realm"),
            token_service=str(token.get("service", "dockyard-registry")),
            token_ttl=int(token.get("ttl", 300)),
            tls_cert=_path(tls.get("cert")),
            tls_key=_path(tls.get("key")),
            proxy_remote=proxy.get("remote"),
            proxy_username=proxy.get("username"),
            proxy_password=proxy.get("password"),
            proxy_ttl=float(proxy.get("ttl", 300)),
            max_blob_size=int(limits["max_blob_size"]) if limits.get("max_blob_size") else None,
            automatic_mount=bool(data.get("automatic_mount", True)),
            gc_grace=float(gc.get("grace", 3600)),
            upload_ttl=float(gc.get("upload_ttl", 7 * 24 * 3600)),
            s3_endpoint=s3.get("endpoint"),
            s3_bucket=s3.get("bucket"),
            s3_region=s3.get("region"),
            s3_access_key=s3.get("accesskey"),
            s3_secret_key=s3.get("secretkey"),
            s3_session_token=s3.get("sessiontoken"),
            s3_addressing=str(s3.get("addressing", "path")),
            s3_prefix=str(s3.get("prefix", "")),
            s3_redirect=bool(s3.get("redirect", False)),
            s3_part_size=int(s3.get("partsize", 8 << 20)),
            s3_lock_ttl=float(s3.get("lockttl", 5)),
            shutdown_timeout=float(data.get("shutdown_timeout", 60)),
            access_log=bool(data.get("access_log", True)),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"invalid configuration {path}: {exc}") from exc
