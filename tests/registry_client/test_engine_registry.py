"""The registry service as a second face would call it: typed requests, reports and progress events, no CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from dockyard.engine import Engine
from dockyard.engine.registry import (
    Event,
    LoginRequest,
    PullPolicy,
    PullRequest,
    RegistryService,
    RequestError,
    parse_reference,
)
from dockyard.errors import DockyardError, ImageNotFoundError
from tests.conftest import needs_root
from tests.registry_client.conftest import Client, docker_archive, layer_bytes, load
from tests.registry_client.servers import Distribution

pytestmark = [needs_root]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = Engine(tmp_path / "engine-root")
    yield opened
    opened.close()


@pytest.fixture
def pushed(registry: Distribution, client: Client, busybox_layer: bytes, tmp_path: Path, repo: str) -> str:
    name = f"{registry.host}/{repo}:1"
    load(client, docker_archive(tmp_path / "image.tar", [busybox_layer, layer_bytes({"x": b"1"})], name))
    client("push", "-q", name)
    return name


def test_ensure_image_pulls_only_as_the_policy_says(engine: Engine, pushed: str) -> None:
    with pytest.raises(ImageNotFoundError):
        engine.ensure_image(pushed, PullPolicy.NEVER)
    events: list[Event] = []
    image = engine.ensure_image(pushed, progress=events.append)
    assert str(parse_reference(pushed)) in [str(t) for t in image.tags]
    lines = [e.line for e in events]
    assert lines[0] == f"1: Pulling from {pushed.split('/', 1)[1].rsplit(':', 1)[0]}"
    assert any(line.endswith(": Pull complete") for line in lines)
    assert lines[-1] == f"Status: Downloaded newer image for {pushed}"
    again: list[Event] = []
    assert engine.ensure_image(pushed, progress=again.append).id == image.id
    assert again == []  # present: the registry is not asked
    engine.ensure_image(pushed, "always", progress=again.append)
    assert again[-1].line == f"Status: Image is up to date for {pushed}"
    assert engine.ensure_image(pushed, platform="linux/amd64").id == image.id  # the image is amd64: no pull
    with pytest.raises(DockyardError, match="does not match the specified platform"):
        engine.ensure_image(pushed, platform="linux/arm64")  # not this platform: asked again, and the registry has none


def test_pull_reports_and_refuses_contradictory_requests(engine: Engine, pushed: str) -> None:
    ref = parse_reference(pushed)
    with pytest.raises(RequestError):
        engine.registry.pull(PullRequest(ref, all_tags=True))
    with pytest.raises(DockyardError, match="manifest for .* not found"):
        engine.registry.pull(PullRequest(ref.name_only()))  # a bare name means latest, which was never pushed
    report = engine.registry.pull(PullRequest(ref.name_only(), all_tags=True))
    assert report.reference == ref.name_only() and report.updated
    assert [str(r.reference) for r in report.results] == [pushed]
    assert not engine.registry.pull(PullRequest(ref)).updated


def test_login_is_checked_then_stored_and_logout_removes_it(engine: Engine, basic_registry: Distribution, tmp_path: Path) -> None:
    service = RegistryService(engine.root, engine.tmp, engine.images, tmp_path / "docker-config")
    with pytest.raises(DockyardError, match="401 Unauthorized"):
        service.login(LoginRequest(basic_registry.host, "alice", "nope"))
    report = service.login(LoginRequest(basic_registry.host, "alice", "wonderland"))
    assert report.server == basic_registry.host and report.unencrypted_in == tmp_path / "docker-config" / "config.json"
    assert service.credentials().get(basic_registry.host) is not None
    assert service.logout(basic_registry.host).was_logged_in
    assert not service.logout(basic_registry.host).was_logged_in
