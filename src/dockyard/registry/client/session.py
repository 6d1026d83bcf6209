"""One registry endpoint over the Distribution API: ping, authorised requests, typed errors.

``connect`` pings ``/v2/`` on each endpoint in turn (HTTPS before plain HTTP
for insecure hosts) and keeps the first that answers, with the challenge it
sent. ``Registry.request`` adds the Authorization header the challenge calls
for, retries once after a 401 with a fresh token, and turns every status the
caller did not expect into ``RegistryError`` from the shared code table.
"""

from __future__ import annotations

from typing import Callable, Mapping
from urllib.parse import urlsplit

from dockyard.registry.client.auth import Authenticator, Credentials, parse_challenges
from dockyard.registry.client.errors import ConnectionFailedError, NoBasicAuthError
from dockyard.registry.client.hosts import (
    Endpoint,
    RegistryOptions,
    auth_key,
    endpoints,
    tls_for,
)
from dockyard.registry.client.transport import Body, Response, TLSOptions, Transport
from dockyard.registry.errcode import Code, RegistryError, parse_error_body


class Transports:
    """Transports by TLS settings, shared by a command's registries and token realms."""

    def __init__(self, options: RegistryOptions, factory: Callable[[TLSOptions], Transport] | None = None) -> None:
        self.options = options
        self._factory = factory or (lambda tls: Transport(tls, timeout=options.read_timeout))
        self._made: dict[TLSOptions, Transport] = {}

    def get(self, tls: TLSOptions) -> Transport:
        if tls not in self._made:
            self._made[tls] = self._factory(tls)
        return self._made[tls]

    def for_url(self, url: str) -> Transport:
        return self.get(tls_for(urlsplit(url).netloc, self.options))

    def close(self) -> None:
        for transport in self._made.values():
            transport.close()


class Registry:
    """A registry endpoint that answered a ping. Thread-safe for concurrent requests."""

    def __init__(self, domain: str, endpoint: Endpoint, transport: Transport, auth: Authenticator) -> None:
        self.domain = domain
        self.endpoint = endpoint
        self.base_url = endpoint.base_url
        self.transport = transport
        self.auth = auth

    def url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: frozenset[str] = frozenset(),
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        expect: tuple[int, ...] = (200,),
        redirect: bool = True,
    ) -> Response:
        url = self.url(path)
        if self.auth.lacks_basic_credentials():
            raise NoBasicAuthError(method, url)
        for attempt in (1, 2):
            sent = dict(headers or {})
            authorization = self.auth.header(scopes)
            if authorization:
                sent["Authorization"] = authorization
            response = self.transport.request(method, url, headers=sent, body=body, redirect=redirect)
            if response.status == 401 and attempt == 1:
                challenges = parse_challenges(response.header_list("WWW-Authenticate"))
                retry_scopes = self.auth.refresh(challenges, scopes)
                if retry_scopes is not None or (not authorization and self.auth.credentials.username):
                    response.error_body()
                    scopes = retry_scopes if retry_scopes is not None else scopes
                    continue
            if response.status in expect:
                return response
            raise error_from(response, method)
        raise AssertionError("unreachable")

    def get_json(self, path: str, *, scopes: frozenset[str], limit: int, accept: str = "application/json") -> tuple[bytes, Response]:
        response = self.request("GET", path, scopes=scopes, headers={"Accept": accept})
        return response.read_all(limit), response


def error_from(response: Response, method: str) -> RegistryError:
    body = b"" if method == "HEAD" else response.error_body()
    response.close()
    if not body:
        code = {401: Code.UNAUTHORIZED, 403: Code.DENIED, 404: Code.NAME_UNKNOWN, 429: Code.TOOMANYREQUESTS}.get(
            response.status, Code.UNKNOWN
        )
        message = "" if code is not Code.UNKNOWN else f"unexpected status {response.status} from {method} {response.url}"
        return RegistryError(code, message, status=response.status)
    return parse_error_body(response.status, body)


def connect(domain: str, candidates: list[Endpoint], transports: Transports, credentials: Credentials | None) -> Registry:
    """Ping each endpoint until one answers as a v2 registry."""
    failures: list[str] = []
    for endpoint in candidates:
        transport = transports.get(endpoint.tls)
        try:
            response = transport.request("GET", endpoint.base_url + "/v2/")
        except ConnectionFailedError as exc:
            failures.append(str(exc))  # TLS to a plain-HTTP port fails here; the next endpoint is http://
            continue
        response.error_body()
        if response.status not in (200, 401):
            failures.append(f"GET {endpoint.base_url}/v2/: unexpected status {response.status}")
            continue
        auth = Authenticator(_realm_fetch(transports), credentials)
        if response.status == 401:
            auth.set_challenges(parse_challenges(response.header_list("WWW-Authenticate")))
        return Registry(domain, endpoint, transport, auth)
    raise ConnectionFailedError(failures[-1] if failures else f"no endpoint for {domain}")


def _realm_fetch(transports: Transports) -> Callable[[str, str, Mapping[str, str], bytes | None], tuple[int, bytes]]:
    def fetch(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> tuple[int, bytes]:
        response = transports.for_url(url).request(method, url, headers=headers, body=body)
        return response.status, response.read_all(1 << 20)

    return fetch


CredentialLookup = Callable[[str], Credentials | None]  # config.json key -> login


class Connector:
    """Opens registries for a command: endpoints from the options, logins from the lookup."""

    def __init__(self, options: RegistryOptions, credentials: CredentialLookup, transports: Transports | None = None) -> None:
        self.options = options
        self.credentials = credentials
        self.transports = transports or Transports(options)

    def groups(self, domain: str, *, push: bool = False) -> list[list[Endpoint]]:
        """Endpoint groups to try in turn: each mirror alone, then the registry (https, then http if insecure)."""
        found = endpoints(domain, self.options, push=push)
        mirrors = [[e] for e in found if e.mirror]
        return mirrors + [[e for e in found if not e.mirror]]

    def connect(self, domain: str, group: list[Endpoint] | None = None, credentials: Credentials | None = None) -> Registry:
        group = group if group is not None else self.groups(domain, push=True)[-1]
        mirror = bool(group) and group[0].mirror
        # a mirror gets no credentials of the registry it mirrors
        creds = credentials if credentials is not None else (None if mirror else self.credentials(auth_key(domain)))
        return connect(domain, group, self.transports, creds)

    def close(self) -> None:
        self.transports.close()
