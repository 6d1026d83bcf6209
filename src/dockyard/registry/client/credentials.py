"""Logins in Docker's own ``config.json``, so Docker and dockyard share them.

The file (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``)
keeps ``auths``: server -> ``{"auth": base64("user:password")}`` (or
``identitytoken`` for OAuth2 logins), Docker Hub under
``https://index.docker.io/v1/``. When ``credHelpers`` names a helper for the
server, or ``credsStore`` names one for all, the secret lives in that helper
instead: ``docker-credential-NAME get|store|erase`` speaks JSON over stdin and
stdout. Every other key of the file is kept as it was; writes are atomic and
the file stays private (0600).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dockyard.errors import InvalidArgumentError
from dockyard.registry.client.auth import Credentials
from dockyard.registry.client.errors import CredentialHelperError
from dockyard.registry.client.hosts import HUB_AUTH_KEY, normalize_server

TOKEN_USERNAME = "<token>"  # helpers store identity tokens under this user name
HELPER_TIMEOUT = 60


def default_config_dir(environ: dict[str, str] | os._Environ[str]) -> Path:
    """Docker's rule; the CLI edge calls it (library code reads no environment)."""
    configured = environ.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path(environ.get("HOME", "~")).expanduser() / ".docker"


def _hostname(key: str) -> str:
    """Docker's ConvertToHostname: "https://host:5000/v1/" -> "host:5000"."""
    return urlsplit(key).netloc if "://" in key else key.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Helper:
    name: str

    def _run(self, action: str, data: bytes) -> bytes:
        program = f"docker-credential-{self.name}"
        try:
            proc = subprocess.run([program, action], input=data, capture_output=True, timeout=HELPER_TIMEOUT)
        except FileNotFoundError as exc:
            raise CredentialHelperError(f"error getting credentials - err: exec: \"{program}\": executable file not found in $PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise CredentialHelperError(f"{program} {action} timed out") from exc
        if proc.returncode != 0:
            message = (proc.stdout or proc.stderr).decode(errors="replace").strip()
            if "credentials not found" in message.lower():
                raise KeyError(message)
            raise CredentialHelperError(f"{program} {action}: {message or f'exit status {proc.returncode}'}")
        return proc.stdout

    def get(self, server: str) -> Credentials | None:
        try:
            out = self._run("get", server.encode())
        except KeyError:
            return None
        try:
            data = json.loads(out)
        except ValueError as exc:
            raise CredentialHelperError(f"docker-credential-{self.name} get: answer is not JSON") from exc
        user, secret = str(data.get("Username", "")), str(data.get("Secret", ""))
        if user == TOKEN_USERNAME:
            return Credentials(identity_token=secret)
        return Credentials(user, secret) if user or secret else None

    def store(self, server: str, creds: Credentials) -> None:
        user = TOKEN_USERNAME if creds.identity_token else creds.username
        secret = creds.identity_token or creds.password
        self._run("store", json.dumps({"ServerURL": server, "Username": user, "Secret": secret}).encode())

    def erase(self, server: str) -> None:
        try:
            self._run("erase", server.encode())
        except KeyError:
            pass


class ConfigFile:
    """Docker's client config file; only the credential keys are interpreted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text() or "{}")
            except (ValueError, OSError) as exc:
                raise InvalidArgumentError(f"loading config file: {path}: {exc}") from exc
            if not isinstance(loaded, dict):
                raise InvalidArgumentError(f"loading config file: {path}: not a JSON object")
            self.data = loaded

    @property
    def auths(self) -> dict[str, Any]:
        auths = self.data.get("auths")
        return auths if isinstance(auths, dict) else {}

    def helper_for(self, key: str) -> Helper | None:
        helpers = self.data.get("credHelpers") or {}
        name = helpers.get(_hostname(key)) or helpers.get(key) if isinstance(helpers, dict) else None
        name = name or self.data.get("credsStore")
        return Helper(str(name)) if name else None

    def _file_entry(self, key: str) -> tuple[str, dict[str, Any]] | None:
        if isinstance(self.auths.get(key), dict):
            return key, self.auths[key]
        host = _hostname(key)
        for stored, entry in self.auths.items():  # "https://host/v2/" logins made by older clients
            if isinstance(entry, dict) and _hostname(stored) == host:
                return stored, entry
        return None

    def get(self, server: str) -> Credentials | None:
        key = normalize_server(server)
        helper = self.helper_for(key)
        if helper is not None:
            return helper.get(key)
        found = self._file_entry(key)
        return _decode_entry(found[1]) if found else None

    def store(self, server: str, creds: Credentials) -> bool:
        """Save a login; True when it went into the file (unencrypted) rather than a helper."""
        key = normalize_server(server)
        helper = self.helper_for(key)
        auths = self.data.setdefault("auths", {})
        if helper is not None:
            helper.store(key, creds)
            auths[key] = {}  # Docker keeps an empty entry so `docker info` lists the server
            self.save()
            return False
        entry: dict[str, Any] = {"auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()}
        if creds.identity_token:
            entry = {"auth": "", "identitytoken": creds.identity_token}
        auths[key] = entry
        self.save()
        return True

    def erase(self, server: str) -> bool:
        """Forget a login; False when there was none."""
        key = normalize_server(server)
        helper = self.helper_for(key)
        found = self._file_entry(key)
        if helper is None and found is None:
            return False
        if helper is not None:
            helper.erase(key)
        if found is not None:
            del self.auths[found[0]]
        self.save()
        return True

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config.json.")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.data, f, indent="\t")  # Docker writes json.MarshalIndent(…, "", "\t")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _decode_entry(entry: dict[str, Any]) -> Credentials | None:
    token = str(entry.get("identitytoken") or "")
    registry_token = str(entry.get("registrytoken") or "")
    encoded = str(entry.get("auth") or "")
    user, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if encoded:
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgumentError("invalid auth configuration file: the auth value is not base64 user:password") from exc
    creds = Credentials(user, password, token, registry_token)
    return creds if creds else None


__all__ = ["HUB_AUTH_KEY", "TOKEN_USERNAME", "ConfigFile", "Helper", "default_config_dir"]
