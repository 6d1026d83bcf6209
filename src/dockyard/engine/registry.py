"""The registry service: pull, push, login, logout, search, remote manifests, and ``ensure_image``.

It owns the client's configuration: ``<root>/daemon.json`` (mirrors,
insecure registries), ``<root>/certs.d`` and Docker's client config
directory (``config.json`` logins, ``credsStore``/``credHelpers``). Each
operation builds its own connector from those and a ``RegistryConfig`` (the
command line's ``--registry-mirror``/``--insecure-registry``), and closes it
when done. Progress leaves as ``progress.Event`` data through the caller's
sink; nothing here prints. A registry's error is raised as a DockyardError in
Docker's words ("denied: requested access to the resource is denied").
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Iterator

from dockyard.errors import DockyardError, ImageNotFoundError, InvalidArgumentError, StorageError
from dockyard.image.store import Image, ImageStore
from dockyard.oci.reference import Reference, parse_normalized
from dockyard.registry.client.auth import Credentials
from dockyard.registry.client.credentials import ConfigFile
from dockyard.registry.client.manifests import NoSuchManifestError, RemoteManifest
from dockyard.registry.client.hosts import load_options
from dockyard.registry.client.progress import Event, PullProgress, discard
from dockyard.registry.client.pull import DEFAULT_CONCURRENT_DOWNLOADS, PullResult
from dockyard.registry.client.push import PushResult
from dockyard.registry.client.search import SearchResult
from dockyard.registry.client.session import Connector

__all__ = [
    "Credentials", "Event", "LoginRefusedError", "LoginReport", "NoSuchManifestError", "LoginRequest", "LogoutReport", "PullPolicy", "PullProgress", "PullReport", "PullRequest",
    "PushReport", "PushRequest", "RegistryConfig", "RegistryService", "RemoteManifest", "RequestError", "SearchResult", "login_key", "parse_reference",
]  # fmt: skip


class RequestError(InvalidArgumentError):
    """The request itself is wrong (flags that do not go together); nothing was asked of a registry."""


class LoginRefusedError(DockyardError):
    """The registry refused a login that ``check_login`` tried (the Engine API answers 401)."""


class PullPolicy(StrEnum):
    """``run --pull`` / ``create --pull``: when to ask the registry."""

    MISSING = "missing"
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """What the command line adds to daemon.json: ``--registry-mirror``, ``--insecure-registry``."""

    mirrors: tuple[str, ...] = ()
    insecure: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PullRequest:
    reference: Reference  # as the user named it; a bare name gets ``latest`` unless all_tags
    platform: str = ""  # os[/arch[/variant]]; empty: this host
    all_tags: bool = False
    max_concurrent: int = DEFAULT_CONCURRENT_DOWNLOADS
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    auth: Credentials | None = None  # the API's X-Registry-Auth: this login instead of the stored ones

    def check(self) -> None:
        if self.all_tags and (self.reference.tag or self.reference.digest):
            raise RequestError("tag can't be used with --all-tags/-a")
        if self.max_concurrent < 1:
            raise RequestError("invalid max concurrent downloads: it must be at least 1")


@dataclass(frozen=True, slots=True)
class PullReport:
    reference: Reference  # what the status line names: the tagged name, or the bare name for --all-tags
    results: tuple[PullResult, ...]

    @property
    def updated(self) -> bool:
        return any(r.updated for r in self.results)

    @property
    def status(self) -> str:
        """Docker's closing line of a pull."""
        word = "Downloaded newer image for" if self.updated else "Image is up to date for"
        return f"Status: {word} {self.reference.familiar}"


@dataclass(frozen=True, slots=True)
class PushRequest:
    reference: Reference
    all_tags: bool = False
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    auth: Credentials | None = None  # the API's X-Registry-Auth: this login instead of the stored ones

    def check(self) -> None:
        if self.reference.digest is not None:
            raise RequestError("cannot push a digest reference")
        if self.all_tags and self.reference.tag:
            raise RequestError("tag can't be used with --all-tags/-a")


@dataclass(frozen=True, slots=True)
class PushReport:
    results: tuple[PushResult, ...]


@dataclass(frozen=True, slots=True)
class LoginRequest:
    server: str  # as typed; empty: Docker Hub
    username: str
    password: str
    registry: RegistryConfig = field(default_factory=RegistryConfig)


@dataclass(frozen=True, slots=True)
class LoginReport:
    server: str  # the config.json key
    unencrypted_in: Path | None  # the file the password went into, when no credential helper took it


@dataclass(frozen=True, slots=True)
class LogoutReport:
    server: str
    was_logged_in: bool


def parse_reference(text: str) -> Reference:
    """A name as a user types it (``busybox``, ``host:5000/a/b:tag``); InvalidArgumentError if it is none."""
    try:
        return parse_normalized(text)
    except InvalidArgumentError as exc:
        from dockyard.engine.images import client_reference_error

        raise client_reference_error(text, exc) from None


class RegistryService:
    """Constructed by the engine; ``config_dir`` is Docker's client config directory (``$DOCKER_CONFIG``).

    Without ``images`` (``without_store``) it serves login, logout, search and manifests, which read only
    daemon.json, certs.d and the client config: those commands never open the store or its database.
    """

    def __init__(self, root: Path, tmp: Path, images: ImageStore | None, config_dir: Path) -> None:
        self.root = root
        self.tmp = tmp
        self._images = images
        self.config_dir = config_dir

    @classmethod
    def without_store(cls, root: Path, config_dir: Path | None = None) -> RegistryService:
        """A service for the commands that store nothing under ``root`` (default config dir: ``$DOCKER_CONFIG``)."""
        import os

        from dockyard.registry.client.credentials import default_config_dir

        return cls(root, root / "tmp", None, config_dir or default_config_dir(os.environ))

    @property
    def images(self) -> ImageStore:
        if self._images is None:
            raise StorageError("this registry service was built without the image store")
        return self._images

    # configuration ----------------------------------------------------------------

    def credentials(self) -> ConfigFile:
        return ConfigFile(self.config_dir / "config.json")

    def connector(self, config: RegistryConfig = RegistryConfig(), auth: Credentials | None = None) -> Connector:
        """A connector with daemon.json, certs.d and the stored logins (``auth`` instead, when given);
        the caller closes it."""
        certs = self.root / "certs.d"
        options = load_options(
            self.root / "daemon.json",
            mirrors=list(config.mirrors),
            insecure=list(config.insecure),
            certs_dir=certs if certs.is_dir() else None,
        )
        return Connector(options, self.credentials().get if auth is None else lambda _key: auth)

    @contextmanager
    def _session(self, config: RegistryConfig, auth: Credentials | None = None) -> Iterator[Connector]:
        """A connector closed afterwards; a registry's error reworded as Docker shows it."""
        from dockyard.registry.client.errors import describe
        from dockyard.registry.errcode import RegistryError

        connector = self.connector(config, auth)
        try:
            yield connector
        except RegistryError as exc:
            raise DockyardError(describe(exc)) from exc
        finally:
            connector.close()

    # operations -----------------------------------------------------------------------

    def pull(self, request: PullRequest, progress: PullProgress | None = None) -> PullReport:
        from dockyard.registry.client import platform as platforms
        from dockyard.registry.client.pull import Puller, PullOptions

        request.check()
        ref = request.reference
        if not request.all_tags:
            ref = ref.with_default_tag()
        wanted = platforms.parse(request.platform) if request.platform else None
        with self._session(request.registry, request.auth) as connector:
            puller = Puller(self.images, connector, self.root / "downloads", self.tmp, progress or discard)
            results = puller.pull(ref, PullOptions(wanted, request.all_tags, request.max_concurrent))
        return PullReport(ref.name_only() if request.all_tags else ref, tuple(results))

    def push(self, request: PushRequest, progress: PullProgress | None = None) -> PushReport:
        from dockyard.registry.client.push import Pusher

        request.check()
        ref = request.reference
        if not request.all_tags:
            ref = ref.with_default_tag()
        with self._session(request.registry, request.auth) as connector:
            results = Pusher(self.images, connector, progress or discard).push(ref, request.all_tags)
        return PushReport(tuple(results))

    def login(self, request: LoginRequest) -> LoginReport:
        """Check the login with the registry, then store it (a helper, or config.json)."""
        from dockyard.registry.client.auth import Credentials
        from dockyard.registry.client.login import verify_login

        key, domain = _server(request.server)
        config = self.credentials()
        stored = None if request.username or request.password else config.get(key)
        creds = stored or Credentials(request.username, request.password)
        with self._session(request.registry) as connector:
            verify_login(connector, domain, creds)
        if stored is not None:  # the stored login still works: nothing to write
            return LoginReport(key, None)
        return LoginReport(key, config.path if config.store(key, creds) else None)

    def check_login(self, request: LoginRequest) -> None:
        """Whether the registry takes this login, storing nothing (the Engine API's ``/auth``)."""
        from dockyard.registry.client.errors import LoginError
        from dockyard.registry.client.login import verify_login

        _, domain = _server(request.server)
        try:
            with self._session(request.registry) as connector:
                verify_login(connector, domain, Credentials(request.username, request.password))
        except LoginError as exc:
            raise LoginRefusedError(str(exc)) from exc

    def stored_username(self, server: str) -> str | None:
        """The user a login to ``server`` stored, which ``login`` without a username reuses (as Docker 28)."""
        creds = self.credentials().get(_server(server)[0])
        return creds.username if creds is not None and creds.username and creds.password else None

    def logout(self, server: str) -> LogoutReport:
        key, _ = _server(server)
        config = self.credentials()
        if config.get(key) is None and key not in config.auths:
            return LogoutReport(key, False)
        config.erase(key)
        return LogoutReport(key, True)

    def search(self, term: str, limit: int, config: RegistryConfig = RegistryConfig()) -> list[SearchResult]:
        from dockyard.registry.client.search import search

        with self._session(config) as connector:
            return search(connector, term, limit)

    def manifest(self, reference: Reference, *, insecure: bool = False, verbose: bool = False) -> RemoteManifest:
        """The manifest or index ``reference`` names in its registry (an index with its manifests);
        ``insecure`` allows plain HTTP or unverified TLS, ``verbose`` reads a manifest's platform from its config."""
        from dockyard.registry.client.hosts import api_host
        from dockyard.registry.client.manifests import fetch_manifest

        ref = reference.with_default_tag()
        config = RegistryConfig(insecure=(api_host(ref.domain),) if insecure else ())
        with self._session(config) as connector:
            return fetch_manifest(connector, ref, verbose)

    # images the engine needs ---------------------------------------------------------------

    def ensure_image(
        self, ref: str, pull: PullPolicy = PullPolicy.MISSING, platform: str | None = None, progress: PullProgress | None = None,
        auths: dict[str, Credentials] | None = None,
    ) -> Image:
        """The local image ``ref``, pulled first as ``pull`` says (``missing``: when absent, or not of ``platform``);
        ``auths`` (config.json keys -> logins, the API's X-Registry-Config) stand in for the stored logins."""
        if pull is not PullPolicy.ALWAYS:
            try:
                image = self.images.get(ref)
                if pull is PullPolicy.NEVER or not platform or _runs_on(image, platform):
                    return image
            except ImageNotFoundError:
                if pull is PullPolicy.NEVER:
                    raise
        reference = parse_reference(ref)
        auth = auths.get(_server(reference.domain)[0]) if auths else None
        report = self.pull(PullRequest(reference, platform or "", auth=auth), progress)
        if progress is not None:
            progress(Event("", report.status))
        return self.images.get(str(report.reference))


def _runs_on(image: Image, platform: str) -> bool:
    """Whether a local image is of the ``--platform`` asked for (dockerd pulls again when it is not)."""
    from dockyard.oci.descriptor import Platform
    from dockyard.registry.client import platform as platforms

    data = image.config.data
    offered = Platform(str(data.get("architecture", "")), str(data.get("os", "")), str(data.get("variant", "")))
    return any(platforms.matches(offered, c) for c in platforms.candidates(platforms.parse(platform)))


def login_key(server: str) -> str:
    """The config.json key of a login server as typed (``https://index.docker.io/v1/``, ``host:5000``)."""
    return _server(server)[0]


def _server(server: str) -> tuple[str, str]:
    """(config.json key, registry domain) of a login server (default: Docker Hub)."""
    from dockyard.registry.client.hosts import DOCKER_HUB, HUB_AUTH_KEY, normalize_server

    key = normalize_server(server)
    return key, DOCKER_HUB if key == HUB_AUTH_KEY else key
