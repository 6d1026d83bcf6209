"""``search``: the index's ``/v1/search``, or a filtered ``/v2/_catalog`` where there is none.

``TERM`` searches Docker Hub's index; ``HOST/TERM`` asks that registry.
CNCF Distribution serves no ``/v1/search``: its 404 makes us list the
catalog and keep the repositories whose name contains the term.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from dockyard.errors import InvalidArgumentError, InvalidContentError
from dockyard.oci.reference import split_docker_domain
from dockyard.registry.client.errors import ConnectionFailedError
from dockyard.registry.client.hosts import (
    DOCKER_HUB,
    HUB_INDEX_HOST,
    auth_key,
    endpoints,
)
from dockyard.registry.client.repository import catalog
from dockyard.registry.client.session import Connector, error_from

MAX_SEARCH_BODY = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SearchResult:
    name: str
    description: str = ""
    star_count: int = 0
    is_official: bool = False
    is_automated: bool = False


def split_term(term: str) -> tuple[str, str]:
    """(registry domain, query): the domain only when the term starts with a host."""
    if "/" in term:
        domain, _ = split_docker_domain(term)
        if domain != DOCKER_HUB:
            return domain, term.split("/", 1)[1]
    return DOCKER_HUB, term


def search(connector: Connector, term: str, limit: int) -> list[SearchResult]:
    if not 1 <= limit <= 100:
        raise InvalidArgumentError(f"limit {limit} is outside the range of [1, 100]")
    domain, query = split_term(term)
    index_domain = HUB_INDEX_HOST if domain == DOCKER_HUB else domain
    found = _v1_search(connector, index_domain, query, limit)
    if found is None:
        found = _catalog_search(connector, domain, query)
    return found[:limit]


def _v1_search(connector: Connector, index_domain: str, query: str, limit: int) -> list[SearchResult] | None:
    """None when the registry has no /v1/search (the caller falls back to the catalog)."""
    failure: ConnectionFailedError | None = None
    creds = connector.credentials(auth_key(index_domain))
    for endpoint in endpoints(index_domain, connector.options, push=True):
        endpoint_url = endpoint.base_url.replace("registry-1.docker.io", HUB_INDEX_HOST)
        url = f"{endpoint_url}/v1/search?{urlencode({'q': query, 'n': limit})}"
        headers = {"Authorization": creds.basic} if creds and creds.username else {}
        try:
            response = connector.transports.get(endpoint.tls).request("GET", url, headers=headers)
        except ConnectionFailedError as exc:
            failure = exc
            continue
        if response.status in (404, 405):
            response.error_body()
            return None
        if response.status != 200:
            raise error_from(response, "GET")
        return _parse(response.read_all(MAX_SEARCH_BODY))
    raise failure or ConnectionFailedError(f"no endpoint for {index_domain}")


def _parse(body: bytes) -> list[SearchResult]:
    try:
        data = json.loads(body)
        return [
            SearchResult(
                name=str(item.get("name", "")),
                description=str(item.get("description") or ""),
                star_count=int(item.get("star_count") or 0),
                is_official=bool(item.get("is_official")),
                is_automated=bool(item.get("is_automated")),
            )
            for item in data.get("results") or []
        ]
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidContentError("the registry's search answer is not valid JSON") from exc


def _catalog_search(connector: Connector, domain: str, query: str) -> list[SearchResult]:
    registry = connector.connect(domain)
    return [SearchResult(name=f"{domain}/{name}") for name in catalog(registry) if query in name]
