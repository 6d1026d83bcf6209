"""Checking a login against the registry before it is saved, as ``docker login`` does.

A registry that asks for nothing accepts any login. With a Basic challenge,
``GET /v2/`` is repeated with the credentials; with a Bearer challenge a token
is requested from the realm with no scope (a token server checks the password
whatever the scope). A refusal is a LoginError in Docker's words.
"""

from __future__ import annotations

from dockyard.registry.client.auth import Credentials, TokenRefusedError
from dockyard.registry.client.errors import LoginError
from dockyard.registry.client.session import Connector


def verify_login(connector: Connector, domain: str, creds: Credentials) -> None:
    registry = connector.connect(domain, credentials=creds)
    challenges = registry.auth.challenges
    bearer = next((c for c in challenges if c.scheme == "bearer"), None)
    if bearer is not None:
        try:
            registry.auth.fetch_token(bearer, frozenset(), offline=True)
        except TokenRefusedError as exc:
            raise LoginError(f'Get "{registry.base_url}/v2/": unauthorized: {_detail(str(exc))}') from exc
        return
    if not challenges:
        return
    url = registry.base_url + "/v2/"
    response = registry.transport.request("GET", url, headers={"Authorization": creds.basic})
    response.error_body()
    if response.status != 200:
        reason = {401: "Unauthorized", 403: "Forbidden"}.get(response.status, "")
        raise LoginError(f"login attempt to {url} failed with status: {response.status} {reason}".rstrip())


def _detail(message: str) -> str:
    return message.split("unauthorized: ", 1)[-1]
