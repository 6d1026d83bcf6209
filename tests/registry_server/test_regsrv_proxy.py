"""Pull-through cache: a dockyard registry mirroring another (plain and token-protected) one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.registry_server.conftest import (
    ACL,
    Client,
    RegistryServer,
    basic,
    bcrypt_hash,
    bearer,
    digest_of,
    token,
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def test_pull_through_caches_and_revalidates(tmp_path: Path) -> None:
    upstream = RegistryServer(tmp_path / "upstream").start()
    try:
        up = Client(upstream.url)
        layer = os.urandom(100_000)
        digest, raw = up.push_image("lib/app", "v1", [layer], media_type=DOCKER_MANIFEST)
        with RegistryServer(tmp_path / "mirror", "--proxy-remote", upstream.url, "--proxy-ttl", "1") as mirror:
            cache = Client(mirror.url)
            r = cache.request("GET", "/v2/lib/app/manifests/v1", headers={"Accept": DOCKER_MANIFEST})
            assert r.status == 200 and r.data == raw and r.headers["Docker-Content-Digest"] == digest
            assert cache.request("HEAD", f"/v2/lib/app/blobs/{digest_of(layer)}").status == 200
            assert cache.request("GET", f"/v2/lib/app/blobs/{digest_of(layer)}").data == layer  # streamed and stored
            assert cache.request("GET", f"/v2/lib/app/blobs/{digest_of(layer)}").data == layer  # served locally
            assert any((tmp_path / "mirror").glob(f"blobs/sha256/*/{digest_of(layer).split(':')[1]}/data"))
            missing = cache.request("GET", "/v2/lib/app/manifests/nope")
            assert missing.status == 404 and missing.error_codes == ["MANIFEST_UNKNOWN"]
            assert cache.request("GET", f"/v2/lib/app/blobs/{digest_of(b'nope')}").status == 404
            # pushing to a mirror is refused
            r = cache.request("POST", "/v2/lib/app/blobs/uploads/")
            assert r.status == 405 and r.error_codes == ["UNSUPPORTED"]
            # the tag moves upstream: seen once the TTL has passed
            new_digest, new_raw = up.push_image("lib/app", "v1", [os.urandom(10)], media_type=DOCKER_MANIFEST)
            assert cache.request("GET", "/v2/lib/app/manifests/v1", headers={"Accept": DOCKER_MANIFEST}).headers["Docker-Content-Digest"] == digest
            time.sleep(1.2)
            assert cache.request("GET", "/v2/lib/app/manifests/v1", headers={"Accept": DOCKER_MANIFEST}).data == new_raw
            # upstream gone: what is cached is still served
            upstream.stop()
            time.sleep(1.2)
            assert cache.request("GET", "/v2/lib/app/manifests/v1").headers["Docker-Content-Digest"] == new_digest
            assert cache.request("GET", f"/v2/lib/app/manifests/{digest}").data == raw
            assert cache.request("GET", f"/v2/lib/app/blobs/{digest_of(layer)}").data == layer
            assert cache.request("GET", "/v2/lib/app/manifests/never-fetched").status == 503
    finally:
        upstream.stop()


def test_pull_through_token_upstream(tmp_path: Path) -> None:
    (tmp_path / "acl.yaml").write_text(ACL.format(alice=bcrypt_hash("wonderland"), bob=bcrypt_hash("builder")))
    with RegistryServer(tmp_path / "upstream", "--token-acl", str(tmp_path / "acl.yaml")) as upstream:
        up = Client(upstream.url)
        push = token(up, "repository:alice/private:pull,push", credentials=basic("alice", "wonderland"))
        layer = os.urandom(5000)
        up.request("POST", f"/v2/alice/private/blobs/uploads/?digest={digest_of(layer)}", layer, bearer(push))
        with RegistryServer(tmp_path / "anonymous", "--proxy-remote", upstream.url) as anonymous:
            refused = Client(anonymous.url).request("GET", f"/v2/alice/private/blobs/{digest_of(layer)}")
            assert refused.status == 403 and refused.error_codes == ["DENIED"]
        with RegistryServer(tmp_path / "mirror", "--proxy-remote", upstream.url, "--proxy-username", "alice", "--proxy-password", "wonderland") as mirror:
            assert Client(mirror.url).request("GET", f"/v2/alice/private/blobs/{digest_of(layer)}").data == layer


@needs_root
@pytest.mark.docker
def test_docker_pulls_through_the_cache(dockerd, tmp_path: Path, busybox_tar: Path) -> None:  # type: ignore[no-untyped-def]
    with RegistryServer(tmp_path / "upstream") as upstream, RegistryServer(tmp_path / "mirror", "--proxy-remote", upstream.url) as mirror:
        source = f"{upstream.host}/lib/bb:1"
        dockerd.run("import", "-c", 'CMD ["/bin/echo", "through the cache"]', str(busybox_tar), source)
        cached = f"{mirror.host}/lib/bb:1"
        try:
            dockerd.run("push", source)
            dockerd.run("pull", cached)
            assert dockerd.image_id(cached) == dockerd.image_id(source)
            assert dockerd.run("run", "--rm", "--network", "none", cached).stdout == "through the cache\n"
        finally:
            dockerd.run("rmi", "-f", source, cached, check=False)
