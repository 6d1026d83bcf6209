"""Garbage collection: the pure mark, and ``dockyard registry gc`` online against a serving registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dockyard.oci.digest import Digest
from dockyard.registry.server.gc import BlobNode, ManifestNode, mark
from tests.registry_server.conftest import Client, RegistryServer, digest_of

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def test_mark_is_reachability() -> None:
    d = [Digest.of(bytes([i])) for i in range(6)]
    tagged, child, referrer, orphan = (ManifestNode("r", d[0]), ManifestNode("r", d[1]), ManifestNode("r", d[2]), ManifestNode("r", d[3]))
    edges = {
        tagged: [BlobNode(d[0]), child],
        child: [BlobNode(d[1]), BlobNode(d[4])],
        referrer: [BlobNode(d[2])],
        orphan: [BlobNode(d[3]), BlobNode(d[5])],
    }
    edges[tagged].append(referrer)  # a referrer hangs off its subject
    live = mark([tagged], edges)
    assert live == {tagged, child, referrer, BlobNode(d[0]), BlobNode(d[1]), BlobNode(d[2]), BlobNode(d[4])}
    assert mark([], edges) == set()


def gc(storage: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "--root", str(storage.parent / "dockyard-root"), "registry", "gc", "--root", str(storage), *args],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def age_all_blobs(storage: Path, seconds: float = 7200) -> None:
    """Pretends every stored blob was last used, and every manifest linked, ``seconds`` ago."""
    old = time.time() - seconds
    for data in [*storage.glob("blobs/*/*/*/data"), *storage.glob("repositories/**/_manifests/revisions/*/*/link")]:
        os.utime(data, (old, old))


def blob_exists(storage: Path, digest: str) -> bool:
    return any(storage.glob(f"blobs/sha256/*/{digest.split(':')[1]}/data"))


def test_gc_online(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    with RegistryServer(storage) as server:
        client = Client(server.url)
        shared, only_b = os.urandom(300), os.urandom(300)
        a_digest, _ = client.push_image("gc/app", "a", [shared])
        b_digest, _ = client.push_image("gc/app", "b", [shared, only_b])
        orphan = client.push_blob("gc/app", os.urandom(100))
        assert client.request("DELETE", "/v2/gc/app/manifests/b").status == 202  # b is untagged now
        # an artifact attached to a (tagged) and one attached to b (untagged)
        client.push_blob("gc/app", b"{}")
        referrers = []
        for subject in (a_digest, b_digest):
            doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example",
                   "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST, "size": 2}, "layers": [],
                   "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}}
            raw = json.dumps(doc).encode()
            assert client.push_manifest("gc/app", digest_of(raw), raw).status == 201
            referrers.append(digest_of(raw))
        age_all_blobs(storage)
        fresh_orphan = client.push_blob("gc/app", os.urandom(50))  # younger than the grace period
        location = client.request("POST", "/v2/gc/app/blobs/uploads/").headers["Location"]
        client.request("PATCH", location, b"in flight")

        dry = gc(storage, "--dry-run")
        assert f"would delete blob {orphan}" in dry and "1 spared" in dry
        assert blob_exists(storage, orphan)

        out = gc(storage)
        assert f"deleted blob {orphan}" in out and "0 manifests deleted" in out
        assert not blob_exists(storage, orphan) and blob_exists(storage, fresh_orphan)
        assert client.request("HEAD", f"/v2/gc/app/blobs/{orphan}").status == 404
        assert client.request("GET", f"/v2/gc/app/manifests/{b_digest}").status == 200  # untagged, kept

        out = gc(storage, "--delete-untagged")
        assert f"deleted manifest gc/app@{b_digest}" in out and f"deleted manifest gc/app@{referrers[1]}" in out
        assert client.request("GET", f"/v2/gc/app/manifests/{b_digest}").status == 404
        assert not blob_exists(storage, digest_of(only_b))
        # everything the tagged image reaches is intact and served
        assert client.request("GET", f"/v2/gc/app/manifests/{referrers[0]}").status == 200
        assert client.request("GET", f"/v2/gc/app/blobs/{digest_of(shared)}").data == shared
        assert [d["digest"] for d in client.request("GET", f"/v2/gc/app/referrers/{a_digest}").json()["manifests"]] == [referrers[0]]
        # the upload in flight survived and finishes
        assert client.request("PUT", f"{location}?digest={digest_of(b'in flight')}").status == 201


def test_gc_spares_an_old_blob_used_again(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    with RegistryServer(storage) as server:
        client = Client(server.url)
        layer = os.urandom(200)
        layer_digest = client.push_blob("reuse/x", layer)
        age_all_blobs(storage)
        # a manifest pushed now uses the old, so far unreferenced blob: it must survive a GC
        client.push_image("reuse/x", "v1", [layer])
        out = gc(storage)
        assert "0 blobs and 0 manifests deleted" in out
        assert client.request("GET", f"/v2/reuse/x/blobs/{layer_digest}").data == layer
        # a mount is a use too: the untagged manifest goes, the freshly mounted layer stays
        age_all_blobs(storage)
        assert client.request("DELETE", "/v2/reuse/x/manifests/v1").status == 202
        assert client.request("POST", f"/v2/reuse/y/blobs/uploads/?mount={layer_digest}&from=reuse/x").status == 201
        out = gc(storage, "--delete-untagged")
        assert "deleted manifest reuse/x@" in out and "1 spared" in out
        assert client.request("GET", f"/v2/reuse/y/blobs/{layer_digest}").data == layer


def test_gc_keeps_an_untagged_manifest_pushed_within_the_grace_period(tmp_path: Path) -> None:
    """A push writes the manifest's revision before its tag: a GC in between must not take the manifest."""
    storage = tmp_path / "storage"
    with RegistryServer(storage) as server:
        client = Client(server.url)
        digest, _ = client.push_image("young/x", "v1", [os.urandom(100)])
        assert client.request("DELETE", "/v2/young/x/manifests/v1").status == 202  # untagged, as mid-push
        out = gc(storage, "--delete-untagged")
        assert "0 manifests deleted" in out
        assert client.request("GET", f"/v2/young/x/manifests/{digest}").status == 200
        age_all_blobs(storage)
        out = gc(storage, "--delete-untagged")
        assert f"deleted manifest young/x@{digest}" in out
        assert client.request("GET", f"/v2/young/x/manifests/{digest}").status == 404
