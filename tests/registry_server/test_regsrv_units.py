"""Pure parts of the server, without a process: URL routes, ranges, storage path checks, manifests, config."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dockyard.registry.errcode import RegistryError
from dockyard.registry.server import routes
from dockyard.registry.server.auth import Access, Acl, Identity, PasswordFile, Rule
from dockyard.registry.server.config import ConfigError, load
from dockyard.registry.server.manifests import acceptable, accepted_types, parse_pushed
from dockyard.registry.server.registry import paginate
from dockyard.registry.server.storage import (
    BlockingStorageCallError,
    CheckedDriver,
    FilesystemDriver,
    InvalidPathError,
    PathNotFoundError,
)
from dockyard.registry.server.storage_async import AsyncStorage
from dockyard.registry.server.uploads import ContentRange


@pytest.mark.parametrize(
    ("tail", "endpoint", "name", "reference"),
    [
        ("", routes.Endpoint.BASE, "", ""),
        ("_catalog", routes.Endpoint.CATALOG, "", ""),
        ("a/b/c/tags/list", routes.Endpoint.TAGS, "a/b/c", ""),
        ("x/blobs/uploads/", routes.Endpoint.UPLOADS, "x", ""),
        ("x/blobs/uploads/0123", routes.Endpoint.UPLOAD, "x", "0123"),
        ("x/blobs/sha256:ab", routes.Endpoint.BLOB, "x", "sha256:ab"),
        ("blobs/blobs/uploads", routes.Endpoint.UPLOADS, "blobs", ""),
        ("my.repo/manifests/manifests/v1", routes.Endpoint.MANIFEST, "my.repo/manifests", "v1"),
        ("r/referrers/sha256:ab", routes.Endpoint.REFERRERS, "r", "sha256:ab"),
    ],
)
def test_routes(tail: str, endpoint: routes.Endpoint, name: str, reference: str) -> None:
    assert routes.match(tail) == routes.Route(endpoint, name, reference)


@pytest.mark.parametrize("name", ["A/b", "a/../b", "a//b", "-a", "a-", "a:1/b", "a@b", "_layers/x", "a/_manifests", "x" * 256])
def test_invalid_names(name: str) -> None:
    assert not routes.is_valid_name(name)
    with pytest.raises(RegistryError) as caught:
        routes.match(f"{name}/tags/list")
    assert caught.value.code == "NAME_INVALID"


def test_valid_names() -> None:
    for name in ("a", "a/b", "a-b/c.d/e__f", "0/1", "x" * 255):
        assert routes.is_valid_name(name), name


def test_content_range() -> None:
    assert ContentRange.parse("0-999") == ContentRange(0, 999)
    assert ContentRange.parse("bytes 5-10/*") == ContentRange(5, 10)
    for bad in ("", "5", "10-5", "a-b", "-1-3"):
        with pytest.raises(RegistryError) as caught:
            ContentRange.parse(bad)
        assert caught.value.code == "RANGE_INVALID" and caught.value.status == 416


def test_checked_driver_refuses_bad_paths(tmp_path: Path) -> None:
    driver = CheckedDriver(FilesystemDriver(tmp_path))
    for path in ("relative", "/a/../b", "/a//b", "/a/./b", "/a b", "/a\\b", "/"):
        with pytest.raises(InvalidPathError):
            driver.get_content(path)
    driver.put_content("/a/b/c", b"data")
    assert driver.get_content("/a/b/c") == b"data"
    assert driver.list("/a/b") == ["c"]
    with pytest.raises(PathNotFoundError):
        driver.get_content("/a/b/missing")
    driver.move("/a/b/c", "/x/y")
    assert not driver.exists("/a/b/c") and driver.stat("/x/y").size == 4
    driver.delete("/x")
    assert not driver.exists("/x/y")
    assert driver.ops["put_content"] == 1 and not list((tmp_path / "tmp").iterdir())


def test_storage_owned_by_the_server_refuses_calls_on_the_event_loop(tmp_path: Path) -> None:
    driver = CheckedDriver(FilesystemDriver(tmp_path))

    async def direct() -> bytes:
        return driver.get_content("/a")

    driver.put_content("/a", b"data")
    assert asyncio.run(direct()) == b"data"  # nothing owns it yet: the CLI and GC call it this way
    storage = AsyncStorage(driver, threads=2)
    try:
        with pytest.raises(BlockingStorageCallError, match="get_content /a: storage called on the event loop"):
            asyncio.run(direct())

        async def through_the_pool() -> bytes:
            async with await storage.open_read("/a", 1) as f:
                return await f.read(10)

        assert asyncio.run(through_the_pool()) == b"ata"
        assert driver.get_content("/a") == b"data"  # off any loop: still allowed
    finally:
        storage.close()


def test_lock_waiters_never_take_the_threads_the_holder_needs(tmp_path: Path) -> None:
    """More requests wait for one lock than the pool has threads, and the holder still finishes its writes."""
    storage = AsyncStorage(CheckedDriver(FilesystemDriver(tmp_path)), threads=2)
    order: list[str] = []

    async def waiter(n: int) -> None:
        async with storage.lock("/lock"):
            order.append(f"waiter {n}")

    async def scenario() -> None:
        holder = storage.lock("/lock")
        await holder.acquire()
        waiters = [asyncio.create_task(waiter(n)) for n in range(6)]
        await asyncio.sleep(0)  # the waiters are now blocked in their threads
        for n in range(4):  # each needs a pool thread
            await storage.put_content(f"/data{n}", b"x")
        order.append("holder wrote")
        await holder.release()
        await asyncio.gather(*waiters)

    try:
        asyncio.run(asyncio.wait_for(scenario(), 30))  # a bound for a broken build (a deadlock), not a measurement
    finally:
        storage.close()
    assert order[0] == "holder wrote" and sorted(order[1:]) == [f"waiter {n}" for n in range(6)]


def test_paginate() -> None:
    items = ["a", "b", "c"]
    assert paginate(items, None, None) == (items, False)
    assert paginate(items, 2, None) == (["a", "b"], True)
    assert paginate(items, 2, "b") == (["c"], False)
    assert paginate(items, 0, None) == ([], True)


def test_manifest_media_types() -> None:
    doc = {"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:" + "0" * 64, "size": 1}, "layers": []}
    assert parse_pushed(json.dumps(doc).encode(), None).media_type == "application/vnd.oci.image.manifest.v1+json"
    assert parse_pushed(json.dumps(doc).encode(), "application/json").artifact_type == "x"
    with pytest.raises(RegistryError):
        parse_pushed(json.dumps(doc).encode(), "application/vnd.example+json")
    accepted = accepted_types(["application/vnd.oci.image.index.v1+json;q=0.5, application/vnd.docker.distribution.manifest.v2+json"])
    assert acceptable("application/vnd.docker.distribution.manifest.v2+json", accepted)
    assert not acceptable("application/vnd.oci.image.manifest.v1+json", accepted)
    assert acceptable("anything", set())


def test_acl_grants() -> None:
    acl = Acl(
        [
            Rule("alice", "alice/*", frozenset({"pull", "push"})),
            Rule("*", "${account}/*", frozenset({"*"})),
            Rule("anonymous", "public/*", frozenset({"pull"})),
        ],
        PasswordFile(),
    )
    wanted = Access("repository", "alice/x", frozenset({"pull", "push", "delete"}))
    assert acl.grant("alice", wanted).actions == {"pull", "push", "delete"}  # "*" from the ${account} rule
    assert acl.grant("bob", wanted).actions == frozenset()
    assert acl.grant(None, Access("repository", "public/x", frozenset({"pull", "push"}))).actions == {"pull"}
    assert acl.grant("bob", Access("repository", "public/x", frozenset({"pull"}))).actions == {"pull"}
    identity = Identity("alice", (Access("repository", "alice/x", frozenset({"pull"})),))
    assert identity.allows(Access("repository", "alice/x", frozenset({"pull"})))
    assert not identity.allows(Access("repository", "alice/x", frozenset({"push"})))
    assert Access.parse_scope("repository:a/b:pull,push") == Access("repository", "a/b", frozenset({"pull", "push"}))
    assert Access.parse_scope("nonsense") is None


def test_config_file_and_flags(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("addr: 0.0.0.0:6000\nworkers: 2\nauth: {htpasswd: /etc/h}\nproxy: {remote: 'https://up', ttl: 10}\n")
    conf = load(tmp_path / "c.yaml", tmp_path / "default")
    assert conf.root == tmp_path / "default" and conf.workers == 2 and conf.proxy_ttl == 10.0
    assert conf.htpasswd == Path("/etc/h") and conf.host_port() == ("0.0.0.0", 6000)
    assert conf.with_overrides(addr="127.0.0.1:1", workers=None).addr == "127.0.0.1:1"
    with pytest.raises(ConfigError):
        conf.with_overrides(token_acl=Path("/x")).check()
    (tmp_path / "bad.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError):
        load(tmp_path / "bad.yaml", tmp_path)
