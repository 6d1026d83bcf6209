"""Authentication and authorisation: htpasswd Basic, or Bearer tokens from a built-in endpoint.

Basic (``--htpasswd FILE``): bcrypt entries as ``htpasswd -B`` writes them; a
valid user may do everything, as in Distribution.

Token (``--token-acl FILE``): the server is its own token service. A client
that gets a 401 follows the challenge to ``/auth/token``, signs in (or not),
and receives a JWT listing the actions the ACL grants it per repository; the
registry then checks each request against the token. The ACL file::

    users:                       # bcrypt hashes (htpasswd -B), or
    htpasswd: /etc/dockyard/htpasswd
    acl:                         # every matching rule adds its actions
      - {account: alice, name: "alice/*", actions: [pull, push, delete]}
      - {account: "*", name: "*", actions: [pull]}          # any signed-in user
      - {account: anonymous, name: "public/*", actions: [pull]}
      - {account: admin, type: registry, name: catalog, actions: ["*"]}

``name`` is a glob (``fnmatch``; ``*`` crosses "/") in which ``${account}``
stands for the user's name. The signing key is kept in the storage so every
process on it accepts every other's tokens.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fnmatch
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import bcrypt
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.registry.errcode import Code, RegistryError
from dockyard.registry.server import paths
from dockyard.registry.server.config import ConfigError, read_document
from dockyard.registry.server.storage import CheckedDriver, PathNotFoundError

ANONYMOUS = "anonymous"
ISSUER = "dockyard-registry"
_ALGORITHM = "ES256"
KNOWN_ACTIONS = frozenset({"pull", "push", "delete", "*"})


@dataclass(frozen=True, slots=True)
class Access:
    type: str  # "repository" or "registry"
    name: str
    actions: frozenset[str]

    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def to_claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}

    @classmethod
    def parse_scope(cls, scope: str) -> Access | None:
        """``repository:name:pull,push``; None for a scope this registry does not know."""
        kind, sep, rest = scope.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not sep or not sep2 or kind not in ("repository", "registry") or not name:
            return None
        return cls(kind, name, frozenset(a for a in actions.split(",") if a in KNOWN_ACTIONS))


@dataclass(frozen=True, slots=True)
class Identity:
    user: str | None  # None: anonymous
    granted: tuple[Access, ...] | None = None  # None: everything (htpasswd users)

    def allows(self, access: Access) -> bool:
        if self.granted is None:
            return True
        have: set[str] = set()
        for grant in self.granted:
            if grant.type == access.type and grant.name == access.name:
                have |= grant.actions
        return "*" in have or access.actions <= have


class ChallengeError(RegistryError):
    """A 401 carrying the ``WWW-Authenticate`` challenge a client follows."""

    def __init__(self, challenge: str, message: str = "", code: Code = Code.UNAUTHORIZED, detail: Any = None) -> None:
        super().__init__(code, message, detail, status=401)
        self.headers = {"WWW-Authenticate": challenge}


class Authorizer(Protocol):
    async def authorize(self, request: web.Request, needed: list[Access]) -> Identity:
        """The caller's identity if it may do ``needed``; raises ChallengeError (401) or DENIED (403)."""
        ...

    def permits(self, identity: Identity | None, access: Access) -> bool: ...

    def routes(self) -> list[web.RouteDef]: ...

    async def search_filter(self, request: web.Request) -> Callable[[str], bool]:
        """Which repositories /v1/search may show this caller (Basic credentials, if any)."""
        ...


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class PasswordFile:
    """bcrypt password hashes by user; re-read when the file changes; good answers cached."""

    def __init__(self, entries: dict[str, str] | None = None, path: Path | None = None) -> None:
        self._static = dict(entries or {})
        self._path = path
        self._mtime = -1.0
        self._entries: dict[str, str] = dict(self._static)
        self._good: set[bytes] = set()

    def _reload(self) -> None:
        if self._path is None:
            return
        mtime = self._path.stat().st_mtime
        if mtime == self._mtime:
            return
        entries = dict(self._static)
        for line in self._path.read_text().splitlines():
            user, sep, hashed = line.strip().partition(":")
            if sep and user and not user.startswith("#"):
                entries[user] = hashed
        self._entries, self._mtime, self._good = entries, mtime, set()

    async def verify(self, user: str, password: str) -> bool:
        self._reload()
        hashed = self._entries.get(user)
        if hashed is None or not hashed.startswith("$2"):
            return False
        key = hashlib.sha256(f"{user}\0{password}\0{hashed}".encode()).digest()
        if key in self._good:
            return True
        # bcrypt is slow on purpose: keep it off the event loop
        ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed.encode())
        if ok:
            self._good.add(key)
        return ok


class BasicAuth:
    def __init__(self, passwords: PasswordFile, realm: str = "dockyard-registry") -> None:
        self.passwords = passwords
        self.realm = realm

    async def authorize(self, request: web.Request, needed: list[Access]) -> Identity:
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is None or not await self.passwords.verify(*credentials):
            raise ChallengeError(f'Basic realm="{self.realm}"')
        return Identity(credentials[0])

    def permits(self, identity: Identity | None, access: Access) -> bool:
        return identity is not None

    def routes(self) -> list[web.RouteDef]:
        return []

    async def search_filter(self, request: web.Request) -> Callable[[str], bool]:
        await self.authorize(request, [])
        return lambda name: True


@dataclass(frozen=True, slots=True)
class Rule:
    account: str
    name: str
    actions: frozenset[str]
    type: str = "repository"


class Acl:
    def __init__(self, rules: list[Rule], passwords: PasswordFile) -> None:
        self.rules = rules
        self.passwords = passwords

    @classmethod
    def load(cls, path: Path) -> Acl:
        data = read_document(path)
        htpasswd = data.get("htpasswd")
        passwords = PasswordFile(data.get("users") or {}, (path.parent / htpasswd) if htpasswd else None)
        rules = []
        for entry in data.get("acl") or []:
            if not isinstance(entry, dict) or "name" not in entry:
                raise ConfigError(f"{path}: each acl entry needs at least a name: {entry!r}")
            account = str(entry.get("account", "*"))
            rules.append(Rule(account, str(entry["name"]), frozenset(map(str, entry.get("actions") or [])), str(entry.get("type", "repository"))))
        return cls(rules, passwords)

    def grant(self, user: str | None, wanted: Access) -> Access:
        """The part of ``wanted`` the rules give ``user`` (None: anonymous)."""
        actions: set[str] = set()
        for rule in self.rules:
            if rule.type != wanted.type or not self._account_matches(rule.account, user):
                continue
            pattern = rule.name.replace("${account}", user or "\0")
            if fnmatch.fnmatchcase(wanted.name, pattern):
                actions |= rule.actions
        allowed = wanted.actions if "*" in actions else wanted.actions & actions
        return Access(wanted.type, wanted.name, frozenset(allowed))

    @staticmethod
    def _account_matches(account: str, user: str | None) -> bool:
        if account == ANONYMOUS:
            return True  # what anonymous users may do, signed-in users may do too
        if user is None:
            return False
        return account == "*" or account == user


class TokenAuth:
    def __init__(self, acl: Acl, driver: CheckedDriver, service: str, realm: str | None, ttl: int) -> None:
        self.acl = acl
        self.service = service
        self.realm = realm
        self.ttl = ttl
        self._private, self._public = _signing_key(driver)

    # the registry side -------------------------------------------------------

    def _challenge(self, request: web.Request, needed: list[Access], error: str | None = None) -> str:
        realm = self.realm or f"{request.scheme}://{request.host}/auth/token"
        out = f'Bearer realm="{realm}",service="{self.service}"'
        if needed:
            out += f',scope="{" ".join(a.scope() for a in needed)}"'
        if error:
            out += f',error="{error}"'
        return out

    async def authorize(self, request: web.Request, needed: list[Access]) -> Identity:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() != "bearer ":
            raise ChallengeError(self._challenge(request, needed))
        try:
            claims = jwt.decode(header[7:].strip(), self._public, algorithms=[_ALGORITHM], audience=self.service, issuer=ISSUER)
        except jwt.PyJWTError as exc:
            raise ChallengeError(self._challenge(request, needed, "invalid_token"), detail=str(exc)) from exc
        granted = tuple(
            Access(str(a.get("type")), str(a.get("name")), frozenset(map(str, a.get("actions") or [])))
            for a in claims.get("access") or []
            if isinstance(a, dict)
        )
        identity = Identity(claims.get("sub") or None, granted)
        for access in needed:
            if identity.allows(access):
                continue
            # Would a fresh token carry it? Then the client just asked too narrowly.
            if self.acl.grant(identity.user, access).actions >= access.actions:
                raise ChallengeError(self._challenge(request, needed, "insufficient_scope"))
            raise RegistryError(Code.DENIED, detail=[a.to_claim() for a in needed])
        return identity

    def permits(self, identity: Identity | None, access: Access) -> bool:
        return identity is not None and identity.allows(access)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/auth/token", self.token_endpoint), web.post("/auth/token", self.oauth_endpoint)]

    async def search_filter(self, request: web.Request) -> Callable[[str], bool]:
        user = await self._sign_in(basic_credentials(request.headers.get("Authorization")))
        pull = frozenset({"pull"})
        return lambda name: self.acl.grant(user, Access("repository", name, pull)).actions == pull

    # the token service side --------------------------------------------------

    async def token_endpoint(self, request: web.Request) -> web.Response:
        """Docker's token protocol: GET with optional Basic credentials, scopes as query parameters."""
        credentials = basic_credentials(request.headers.get("Authorization"))
        user = await self._sign_in(credentials)
        return self._issue(user, request.query.getall("scope", []), request.query.get("service"))

    async def oauth_endpoint(self, request: web.Request) -> web.Response:
        """OAuth2 password grant (what containerd and some clients POST)."""
        form = await request.post()
        if form.get("grant_type") != "password":
            raise RegistryError(Code.UNSUPPORTED, "only the password grant is supported", status=400)
        user = await self._sign_in((str(form.get("username", "")), str(form.get("password", ""))))
        scopes = [s for value in form.getall("scope", []) for s in str(value).split(" ") if s]
        return self._issue(user, scopes, str(form.get("service") or "") or None)

    async def _sign_in(self, credentials: tuple[str, str] | None) -> str | None:
        if credentials is None:
            return None
        if not await self.acl.passwords.verify(*credentials):
            raise ChallengeError('Basic realm="dockyard-registry"', "incorrect username or password")
        return credentials[0]

    def _issue(self, user: str | None, scopes: list[str], service: str | None) -> web.Response:
        if service is not None and service != self.service:
            raise RegistryError(Code.DENIED, f"unknown service {service!r}", status=400)
        access = []
        for scope in (s for value in scopes for s in value.split(" ") if s):
            wanted = Access.parse_scope(scope)
            if wanted is not None:
                access.append(self.acl.grant(user, wanted).to_claim())
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": self.service,
            "iat": now,
            "nbf": now - 10,  # some slack for clocks of other processes and hosts
            "exp": now + self.ttl,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = jwt.encode(claims, self._private, algorithm=_ALGORITHM, headers={"kid": _key_id(self._public)})
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        body = {"token": token, "access_token": token, "expires_in": self.ttl, "issued_at": issued}
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")


def _key_id(public: ec.EllipticCurvePublicKey) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:32]


def _signing_key(driver: CheckedDriver) -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey]:
    """The storage's token key, created by whichever process comes first (under the storage lock)."""
    with driver.lock("/_auth.lock"):
        try:
            pem = driver.get_content(paths.auth_key())
        except PathNotFoundError:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            driver.put_content(paths.auth_key(), pem)
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return private, private.public_key()
