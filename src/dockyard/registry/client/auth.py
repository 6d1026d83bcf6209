"""The WWW-Authenticate challenge flow of the Distribution spec.

A registry answers ``GET /v2/`` with 200 (anonymous), or 401 and one or more
challenges: ``Basic realm=…`` (send the credentials on every request) or
``Bearer realm=…,service=…`` (ask the realm for a token naming the scopes the
request needs, e.g. ``repository:library/busybox:pull``). Tokens are cached by
their set of scopes until they expire; a request needing a new scope (a push
after a pull, a cross-repository mount) gets a new token. A 401 on a request
that carried a token means the token expired or lacks a scope the challenge
names: the token is fetched again once.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import urlencode

from dockyard.registry.client.errors import ConnectionFailedError, LoginError

TOKEN_MIN_LIFETIME = 60  # seconds: the spec's default when a token server gives none
MAX_TOKEN_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lowercase: "basic" or "bearer"
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def _tokens(header: str) -> list[str]:
    """Split on commas and '=' outside quotes; quoted strings come back unquoted, marked with a leading '"'."""
    out: list[str] = []
    i, n = 0, len(header)
    while i < n:
        c = header[i]
        if c in " \t":
            i += 1
        elif c in ",=":
            out.append(c)
            i += 1
        elif c == '"':
            i += 1
            value = []
            while i < n and header[i] != '"':
                if header[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(header[i])
                i += 1
            out.append('"' + "".join(value))
            i += 1
        else:
            j = i
            while j < n and header[j] not in ' \t,="':
                j += 1
            out.append(header[i:j])
            i = j
    return out


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """All challenges of one or more WWW-Authenticate headers, in order."""
    challenges: list[Challenge] = []
    for header in headers:
        toks = _tokens(header)
        i = 0
        scheme: str | None = None
        params: dict[str, str] = {}
        while i < len(toks):
            tok = toks[i]
            if tok == ",":
                i += 1
            elif scheme is not None and i + 1 < len(toks) and toks[i + 1] == "=":
                value = toks[i + 2] if i + 2 < len(toks) else ""
                params[tok.lower()] = value.removeprefix('"')
                i += 3
            else:
                if scheme is not None:
                    challenges.append(Challenge(scheme, params))
                scheme, params = tok.lower(), {}
                i += 1
        if scheme is not None:
            challenges.append(Challenge(scheme, params))
    return challenges


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a user gave us for one registry. ``identity_token`` is Docker's
    refresh token (an OAuth2 login); ``registry_token`` a bearer token to send as is."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    @property
    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def __bool__(self) -> bool:
        return bool(self.username or self.password or self.identity_token or self.registry_token)


# (method, url, headers, body) -> (status, body); the realm may be another host
Fetch = Callable[[str, str, Mapping[str, str], bytes | None], tuple[int, bytes]]


@dataclass(slots=True)
class _Token:
    value: str
    expires: float


class TokenRefusedError(LoginError):
    def __init__(self, status: int, body: bytes, url: str) -> None:
        detail = _token_error(body) or f"status {status}"
        super().__init__(f'Get "{url}": unauthorized: {detail}' if status in (401, 403) else f"token server {url}: {detail}")
        self.status = status


def _token_error(body: bytes) -> str:
    try:
        data = json.loads(body[:4096])
        if isinstance(data, dict):
            errors = data.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                return str(errors[0].get("message") or errors[0].get("code") or "")
            return str(data.get("details") or data.get("error_description") or data.get("error") or "")
    except ValueError:
        pass
    return body[:200].decode("utf-8", "replace").strip()


class Authenticator:
    """Authorization headers for one registry host. Thread-safe: pulls ask from several threads."""

    def __init__(self, fetch: Fetch, credentials: Credentials | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self.credentials = credentials or Credentials()
        self._clock = clock
        self._challenges: list[Challenge] = []
        self._tokens: dict[frozenset[str], _Token] = {}
        self._lock = threading.Lock()

    @property
    def challenges(self) -> list[Challenge]:
        return list(self._challenges)

    def set_challenges(self, challenges: list[Challenge]) -> None:
        with self._lock:
            self._challenges = challenges

    def _pick(self) -> Challenge | None:
        # prefer a token flow over sending the password on every request
        for scheme in ("bearer", "basic"):
            for challenge in self._challenges:
                if challenge.scheme == scheme:
                    return challenge
        return None

    def lacks_basic_credentials(self) -> bool:
        """The registry wants Basic credentials and there are none: Docker fails before sending."""
        challenge = self._pick()
        return challenge is not None and challenge.scheme == "basic" and not self.credentials.username

    def header(self, scopes: frozenset[str]) -> str | None:
        """The Authorization value for a request needing ``scopes`` (None: send none)."""
        challenge = self._pick()
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self.credentials.basic if self.credentials.username else None
        if self.credentials.registry_token:
            return f"Bearer {self.credentials.registry_token}"
        with self._lock:
            cached = self._tokens.get(scopes)
            if cached is not None and cached.expires > self._clock():
                return f"Bearer {cached.value}"
        token = self.fetch_token(challenge, scopes)
        return f"Bearer {token}"

    def refresh(self, response_challenges: list[Challenge], scopes: frozenset[str]) -> frozenset[str] | None:
        """After a 401: forget the token and return the scopes to ask for next (None: give up)."""
        bearer = next((c for c in response_challenges if c.scheme == "bearer"), None)
        if bearer is None:
            if response_challenges:
                self.set_challenges(response_challenges)
            return None
        with self._lock:
            self._tokens.pop(scopes, None)
            if not self._challenges:
                self._challenges = response_challenges
        extra = {s for s in bearer.params.get("scope", "").split(" ") if s}
        return scopes | frozenset(extra)

    def fetch_token(self, challenge: Challenge, scopes: frozenset[str], *, offline: bool = False) -> str:
        realm = challenge.realm
        if not realm:
            raise LoginError("the registry's bearer challenge names no realm")
        params: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        params += [("scope", s) for s in sorted(scopes)]
        creds = self.credentials
        if creds.identity_token:
            status, body = self._refresh_token_grant(realm, params)
        else:
            headers: dict[str, str] = {}
            if creds.username:
                headers["Authorization"] = creds.basic
                params.append(("account", creds.username))
            if offline:
                params += [("offline_token", "true"), ("client_id", "dockyard")]
            url = realm + ("&" if "?" in realm else "?") + urlencode(params) if params else realm
            status, body = self._fetch("GET", url, headers, None)
        if status != 200:
            raise TokenRefusedError(status, body, realm)
        token, lifetime = _parse_token(body)
        with self._lock:
            self._tokens[scopes] = _Token(token, self._clock() + max(lifetime, TOKEN_MIN_LIFETIME) - 5)
        return token

    def _refresh_token_grant(self, realm: str, params: list[tuple[str, str]]) -> tuple[int, bytes]:
        form = params + [
            ("grant_type", "refresh_token"),
            ("refresh_token", self.credentials.identity_token),
            ("client_id", "dockyard"),
        ]
        # several scopes go space-separated in the OAuth2 form
        scopes = " ".join(v for k, v in form if k == "scope")
        form = [(k, v) for k, v in form if k != "scope"] + ([("scope", scopes)] if scopes else [])
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._fetch("POST", realm, headers, urlencode(form).encode())


def _parse_token(body: bytes) -> tuple[str, int]:
    try:
        data = json.loads(body[:MAX_TOKEN_BODY])
    except ValueError as exc:
        raise ConnectionFailedError("the token server's answer is not JSON") from exc
    if not isinstance(data, dict):
        raise ConnectionFailedError("the token server's answer is not a JSON object")
    token = data.get("token") or data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ConnectionFailedError("the token server's answer has no token")
    expires_in = data.get("expires_in")
    lifetime = int(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else TOKEN_MIN_LIFETIME
    return token, lifetime


def repository_scope(path: str, *actions: str) -> str:
    return f"repository:{path}:{','.join(actions)}"
