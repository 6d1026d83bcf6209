"""The OCI Distribution Spec v1.1 workflows, over raw HTTP against the real server.

Mirrors what the spec's conformance suite checks (pull, push, content
discovery, content management), in Python, plus the error codes and headers
Docker's clients rely on.
"""

from __future__ import annotations

import json
import os

from tests.registry_server.conftest import Client, digest_of

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
EMPTY_JSON = b"{}"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
DUMMY = digest_of(b"hello world")


def test_ping(client: Client) -> None:
    r = client.request("GET", "/v2/")
    assert r.status == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.json() == {}


# pull ------------------------------------------------------------------------


def test_pull_blobs(client: Client, repo: str) -> None:
    data = os.urandom(1000)
    digest = client.push_blob(repo, data)
    missing = client.request("HEAD", f"/v2/{repo}/blobs/{DUMMY}")
    assert missing.status == 404 and missing.data == b""
    r = client.request("GET", f"/v2/{repo}/blobs/{DUMMY}")
    assert r.status == 404 and r.error_codes == ["BLOB_UNKNOWN"]
    head = client.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    assert head.status == 200 and head.headers["Content-Length"] == "1000"
    assert head.headers["Docker-Content-Digest"] == digest
    get = client.request("GET", f"/v2/{repo}/blobs/{digest}")
    assert get.status == 200 and get.data == data
    ranged = client.request("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert ranged.status == 206 and ranged.data == data[10:20]
    assert ranged.headers["Content-Range"] == "bytes 10-19/1000"
    # the blob is in this repository only
    other = client.request("HEAD", f"/v2/{repo}-other/blobs/{digest}")
    assert other.status == 404


def test_pull_manifests_by_tag_and_digest(client: Client, repo: str) -> None:
    digest, manifest = client.push_image(repo, "v1", [os.urandom(300)])
    for reference in ("v1", digest):
        head = client.request("HEAD", f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert head.status == 200 and head.data == b""
        assert head.headers["Docker-Content-Digest"] == digest
        assert head.headers["Content-Length"] == str(len(manifest))
        assert head.headers["Content-Type"] == OCI_MANIFEST
        get = client.request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert get.status == 200 and get.data == manifest
    assert client.request("GET", f"/v2/{repo}/manifests/.INVALID_MANIFEST_NAME").status == 404
    assert client.request("HEAD", f"/v2/{repo}/manifests/nope").status == 404
    r = client.request("GET", f"/v2/{repo}/manifests/nope")
    assert r.error_codes == ["MANIFEST_UNKNOWN"]
    bad = client.request("GET", f"/v2/{repo}/manifests/sha256:totallywrong")
    assert bad.status == 400 and bad.error_codes == ["DIGEST_INVALID"]


def test_accept_negotiation(client: Client, repo: str) -> None:
    docker_digest, _ = client.push_image(repo, "docker", [os.urandom(100)], media_type=DOCKER_MANIFEST)
    oci_digest, _ = client.push_image(repo, "oci", [os.urandom(100)])
    r = client.request("GET", f"/v2/{repo}/manifests/docker", headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_MANIFEST};q=0.9"})
    assert r.headers["Content-Type"] == DOCKER_MANIFEST
    refused = client.request("GET", f"/v2/{repo}/manifests/oci", headers={"Accept": DOCKER_MANIFEST})
    assert refused.status == 404 and refused.error_codes == ["MANIFEST_UNKNOWN"]
    assert client.request("GET", f"/v2/{repo}/manifests/oci", headers={"Accept": "*/*"}).status == 200
    index = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": oci_digest, "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": DOCKER_MANIFEST, "digest": docker_digest, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
        ],
    }
    assert client.push_manifest(repo, "multi", json.dumps(index).encode(), DOCKER_LIST).status == 201
    listed = client.request("GET", f"/v2/{repo}/manifests/multi", headers={"Accept": f"{DOCKER_LIST},{DOCKER_MANIFEST}"})
    assert listed.headers["Content-Type"] == DOCKER_LIST
    # an old client that reads only schema 2 gets the linux/amd64 image by tag
    old = client.request("GET", f"/v2/{repo}/manifests/multi", headers={"Accept": DOCKER_MANIFEST})
    assert old.status == 200 and old.headers["Docker-Content-Digest"] == docker_digest


# push ------------------------------------------------------------------------


def _start(client: Client, repo: str) -> str:
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status == 202
    assert r.headers["Location"].startswith(f"/v2/{repo}/blobs/uploads/")
    assert r.headers["Docker-Upload-UUID"] and r.headers["Range"] == "0-0"
    return r.headers["Location"]


def test_push_streamed(client: Client, repo: str) -> None:
    data = os.urandom(5000)
    location = _start(client, repo)
    r = client.request("PATCH", location, data, {"Content-Type": "application/octet-stream"})
    assert r.status == 202 and r.headers["Range"] == "0-4999"
    r = client.request("PUT", r.headers["Location"] + f"?digest={digest_of(data)}")
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/{repo}/blobs/{digest_of(data)}"
    assert r.headers["Docker-Content-Digest"] == digest_of(data)
    assert client.request("GET", r.headers["Location"]).data == data


def test_push_monolithic(client: Client, repo: str) -> None:
    data = os.urandom(700)
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest_of(data)}", data, {"Content-Type": "application/octet-stream"})
    assert r.status == 201 and r.headers["Location"] == f"/v2/{repo}/blobs/{digest_of(data)}"
    location = _start(client, repo)
    other = os.urandom(900)
    r = client.request("PUT", f"{location}?digest={digest_of(other)}", other, {"Content-Type": "application/octet-stream"})
    assert r.status == 201
    assert client.request("GET", f"/v2/{repo}/blobs/{digest_of(other)}").data == other


def test_push_chunked(client: Client, repo: str) -> None:
    data = os.urandom(3000)
    first, second = data[:1000], data[1000:]
    location = _start(client, repo)
    out_of_order = client.request("PATCH", location, second, {"Content-Range": "1000-2999", "Content-Type": "application/octet-stream"})
    assert out_of_order.status == 416 and out_of_order.error_codes == ["RANGE_INVALID"]
    r = client.request("PATCH", location, first, {"Content-Range": "0-999", "Content-Type": "application/octet-stream"})
    assert r.status == 202 and r.headers["Range"] == "0-999"
    retry = client.request("PATCH", location, first, {"Content-Range": "0-999", "Content-Type": "application/octet-stream"})
    assert retry.status == 416
    status = client.request("GET", location)
    assert status.status == 204 and status.headers["Range"] == "0-999"
    assert status.headers["Location"] and status.headers["Docker-Upload-UUID"] == location.rsplit("/", 1)[1]
    r = client.request("PATCH", status.headers["Location"], second, {"Content-Range": "1000-2999", "Content-Type": "application/octet-stream"})
    assert r.status == 202 and r.headers["Range"] == "0-2999"
    r = client.request("PUT", f"{r.headers['Location']}?digest={digest_of(data)}", b"", {"Content-Length": "0"})
    assert r.status == 201
    assert client.request("GET", f"/v2/{repo}/blobs/{digest_of(data)}").data == data
    # the session is gone once committed
    gone = client.request("GET", location)
    assert gone.status == 404 and gone.error_codes == ["BLOB_UPLOAD_UNKNOWN"]


def test_push_wrong_digest_is_refused_and_invisible(client: Client, repo: str) -> None:
    data = os.urandom(100)
    location = _start(client, repo)
    r = client.request("PUT", f"{location}?digest={DUMMY}", data)
    assert r.status == 400 and r.error_codes == ["DIGEST_INVALID"]
    assert client.request("HEAD", f"/v2/{repo}/blobs/{DUMMY}").status == 404
    assert client.request("HEAD", f"/v2/{repo}/blobs/{digest_of(data)}").status == 404
    monolithic = client.request("POST", f"/v2/{repo}/blobs/uploads/?digest={DUMMY}", data)
    assert monolithic.status == 400 and monolithic.error_codes == ["DIGEST_INVALID"]
    no_digest = client.request("PUT", _start(client, repo), data)
    assert no_digest.status == 400 and no_digest.error_codes == ["DIGEST_INVALID"]
    malformed = client.request("POST", f"/v2/{repo}/blobs/uploads/?digest=sha256:xyz", data)
    assert malformed.status == 400 and malformed.error_codes == ["DIGEST_INVALID"]


def test_cancel_upload(client: Client, repo: str) -> None:
    location = _start(client, repo)
    client.request("PATCH", location, b"partial")
    assert client.request("DELETE", location).status == 204
    r = client.request("GET", location)
    assert r.status == 404 and r.error_codes == ["BLOB_UPLOAD_UNKNOWN"]
    assert client.request("PATCH", location, b"more").status == 404
    bogus = client.request("GET", f"/v2/{repo}/blobs/uploads/../../etc")
    assert bogus.status in (400, 404)


def test_cross_repository_mount(client: Client, repo: str) -> None:
    data = os.urandom(400)
    digest = client.push_blob(repo, data)
    target = repo + "-mounted"
    r = client.request("POST", f"/v2/{target}/blobs/uploads/?mount={digest}&from={repo}")
    assert r.status == 201 and r.headers["Location"] == f"/v2/{target}/blobs/{digest}"
    assert client.request("GET", r.headers["Location"]).data == data
    # nothing to mount: an ordinary session starts
    r = client.request("POST", f"/v2/{target}/blobs/uploads/?mount={DUMMY}&from={repo}")
    assert r.status == 202 and r.headers["Location"].startswith(f"/v2/{target}/blobs/uploads/")
    r = client.request("POST", f"/v2/{target}/blobs/uploads/?mount={DUMMY}")
    assert r.status == 202
    # automatic mount: the registry holds the blob, no from= needed
    third = repo + "-auto"
    r = client.request("POST", f"/v2/{third}/blobs/uploads/?mount={digest}")
    assert r.status == 201
    assert client.request("GET", f"/v2/{third}/blobs/{digest}").data == data


def test_manifest_push_checks_references(client: Client, repo: str) -> None:
    assert client.request("GET", f"/v2/{repo}/manifests/nothing").status == 404
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DUMMY, "size": 11},
        "layers": [],
    }
    r = client.push_manifest(repo, "broken", json.dumps(manifest).encode())
    assert r.status == 404 and r.error_codes == ["MANIFEST_BLOB_UNKNOWN"]
    assert client.request("GET", f"/v2/{repo}/manifests/broken").status == 404
    client.push_blob(repo, b"hello world")
    for i in range(4):
        r = client.push_manifest(repo, f"test{i}", json.dumps(manifest).encode())
        assert r.status == 201 and r.headers["Location"].startswith(f"/v2/{repo}/manifests/sha256:")
    for body, code in ((b"blablabla", "MANIFEST_INVALID"), (b"[]", "MANIFEST_INVALID"), (json.dumps({**manifest, "schemaVersion": 1}).encode(), "MANIFEST_INVALID")):
        r = client.push_manifest(repo, "bad", body)
        assert r.status == 400 and r.error_codes == [code], r.data
    mismatch = client.push_manifest(repo, "bad", json.dumps(manifest).encode(), DOCKER_MANIFEST)
    assert mismatch.status == 400 and mismatch.error_codes == ["MANIFEST_INVALID"]
    by_digest = client.push_manifest(repo, DUMMY, json.dumps(manifest).encode())
    assert by_digest.status == 400 and by_digest.error_codes == ["DIGEST_INVALID"]
    huge = client.push_manifest(repo, "huge", b" " * (4 * 1024 * 1024 + 1))
    assert huge.status == 413 and huge.error_codes == ["SIZE_INVALID"]
    bad_tag = client.push_manifest(repo, "-tag", json.dumps(manifest).encode())
    assert bad_tag.status == 400 and bad_tag.error_codes == ["TAG_INVALID"]


def test_index_needs_its_manifests(client: Client, repo: str) -> None:
    child, raw = client.push_image(repo, "child", [os.urandom(10)])
    missing = digest_of(b"not pushed")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 3}]}
    r = client.push_manifest(repo, "idx", json.dumps(index).encode(), OCI_INDEX)
    assert r.status == 404 and r.error_codes == ["MANIFEST_BLOB_UNKNOWN"]
    index["manifests"] = [{"mediaType": OCI_MANIFEST, "digest": child, "size": len(raw)}]
    r = client.push_manifest(repo, "idx", json.dumps(index).encode(), OCI_INDEX)
    assert r.status == 201
    assert client.request("GET", f"/v2/{repo}/manifests/idx", headers={"Accept": OCI_INDEX}).headers["Content-Type"] == OCI_INDEX


def test_names_and_endpoints(client: Client) -> None:
    for name in ("UPPER/case", "a..b", "-lead", "a//b", "x" * 256):
        r = client.request("GET", f"/v2/{name}/tags/list")
        assert r.status in (400, 404), name
        if r.status == 400:
            assert r.error_codes == ["NAME_INVALID"]
    assert client.request("GET", "/v2/UPPER/tags/list").error_codes == ["NAME_INVALID"]
    assert client.request("GET", "/v2/nothing/here").status == 404
    for path in ("/v2/a/blobs/uploads/..%2F..%2Fetc", "/v2/%2E%2E/tags/list", "/v2/a/manifests/..%2F..%2F_layers",
                 "/v2/a/blobs/sha256:..%2F..", "/v2/a%2F..%2Fb/tags/list", "/v2/a/tags/list/../../../etc/passwd"):
        r = client.request("GET", path)
        assert r.status in (400, 404), path
        assert r.json()["errors"], path
    r = client.request("POST", "/v2/some/repo/manifests/latest")
    assert r.status == 405 and r.error_codes == ["UNSUPPORTED"]


# content discovery -----------------------------------------------------------


def test_tags_list_pagination(client: Client, repo: str) -> None:
    missing = client.request("GET", f"/v2/{repo}-none/tags/list")
    assert missing.status == 404 and missing.error_codes == ["NAME_UNKNOWN"]
    _, raw = client.push_image(repo, "a", [])
    for tag in ("d", "b", "c", "e"):
        assert client.push_manifest(repo, tag, raw).status == 201
    r = client.request("GET", f"/v2/{repo}/tags/list")
    assert r.json() == {"name": repo, "tags": ["a", "b", "c", "d", "e"]}
    assert "Link" not in r.headers
    r = client.request("GET", f"/v2/{repo}/tags/list?n=2")
    assert r.json()["tags"] == ["a", "b"]
    assert r.headers["Link"] == f'</v2/{repo}/tags/list?n=2&last=b>; rel="next"'
    r = client.request("GET", r.headers["Link"].split(";")[0].strip("<>"))
    assert r.json()["tags"] == ["c", "d"]
    r = client.request("GET", f"/v2/{repo}/tags/list?n=2&last=d")
    assert r.json()["tags"] == ["e"] and "Link" not in r.headers
    assert client.request("GET", f"/v2/{repo}/tags/list?n=0").json()["tags"] == []
    bad = client.request("GET", f"/v2/{repo}/tags/list?n=-1")
    assert bad.status == 400 and bad.error_codes == ["PAGINATION_NUMBER_INVALID"]


def test_catalog(client: Client, repo: str) -> None:
    for suffix in ("x", "y", "z"):
        client.push_image(f"{repo}/{suffix}", "latest", [])
    names = client.request("GET", "/v2/_catalog").json()["repositories"]
    assert {f"{repo}/x", f"{repo}/y", f"{repo}/z"} <= set(names)
    assert names == sorted(names)
    r = client.request("GET", f"/v2/_catalog?n=1&last={repo}/x")
    assert r.json() == {"repositories": [f"{repo}/y"]}
    assert r.headers["Link"].startswith(f"</v2/_catalog?n=1&last={repo.replace('/', '%2F')}%2Fy>")


def test_referrers(client: Client, repo: str) -> None:
    subject, subject_raw = client.push_image(repo, "subject", [os.urandom(50)])
    client.push_blob(repo, EMPTY_JSON)
    subject_descriptor = {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_raw)}
    pushed = []
    for i, artifact_type in enumerate(("application/vnd.example.sbom", "application/vnd.example.sig", "application/vnd.example.sig")):
        layer = client.push_blob(repo, f"artifact {i}".encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST, "size": 2},
            "layers": [{"mediaType": "text/plain", "digest": layer, "size": len(f"artifact {i}")}],
            "subject": subject_descriptor,
            "annotations": {"n": str(i)},
        }
        raw = json.dumps(manifest).encode()
        r = client.push_manifest(repo, digest_of(raw), raw)
        assert r.status == 201 and r.headers["OCI-Subject"] == subject
        pushed.append(digest_of(raw))
    # an index can refer too; its artifactType is its own
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/vnd.example.bundle",
             "manifests": [], "subject": subject_descriptor}
    raw_index = json.dumps(index).encode()
    assert client.push_manifest(repo, digest_of(raw_index), raw_index, OCI_INDEX).headers["OCI-Subject"] == subject
    r = client.request("GET", f"/v2/{repo}/referrers/{subject}")
    assert r.status == 200 and r.headers["Content-Type"] == OCI_INDEX
    found = r.json()["manifests"]
    assert sorted(d["digest"] for d in found) == sorted(pushed + [digest_of(raw_index)])
    by_digest = {d["digest"]: d for d in found}
    assert by_digest[pushed[0]]["artifactType"] == "application/vnd.example.sbom"
    assert by_digest[pushed[0]]["annotations"] == {"n": "0"}
    filtered = client.request("GET", f"/v2/{repo}/referrers/{subject}?artifactType=application/vnd.example.sig")
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert sorted(d["digest"] for d in filtered.json()["manifests"]) == sorted(pushed[1:])
    none = client.request("GET", f"/v2/{repo}/referrers/{DUMMY}")
    assert none.status == 200 and none.json()["manifests"] == []
    # deleting a referrer removes it from the list
    assert client.request("DELETE", f"/v2/{repo}/manifests/{pushed[0]}").status == 202
    left = client.request("GET", f"/v2/{repo}/referrers/{subject}").json()["manifests"]
    assert pushed[0] not in {d["digest"] for d in left}
    assert client.request("GET", f"/v2/{repo}/referrers/sha256:bad").status == 400


def test_referrer_of_missing_subject(client: Client, repo: str) -> None:
    client.push_blob(repo, EMPTY_JSON)
    missing = digest_of(b"never pushed")
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST, "size": 2}, "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": missing, "size": 10},
    }
    raw = json.dumps(manifest).encode()
    r = client.push_manifest(repo, digest_of(raw), raw)
    assert r.status == 201 and r.headers["OCI-Subject"] == missing
    assert [d["digest"] for d in client.request("GET", f"/v2/{repo}/referrers/{missing}").json()["manifests"]] == [digest_of(raw)]


# content management ----------------------------------------------------------


def test_delete_tag_manifest_and_blob(client: Client, repo: str) -> None:
    layer = os.urandom(64)
    digest, raw = client.push_image(repo, "keep", [layer])
    client.push_manifest(repo, "gone", raw)
    assert client.request("DELETE", f"/v2/{repo}/manifests/gone").status == 202
    assert client.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == ["keep"]
    assert client.request("GET", f"/v2/{repo}/manifests/keep").status == 200  # the manifest stays
    assert client.request("DELETE", f"/v2/{repo}/manifests/gone").status == 404
    assert client.request("DELETE", f"/v2/{repo}/manifests/{digest}").status == 202
    assert client.request("GET", f"/v2/{repo}/manifests/{digest}").status == 404
    assert client.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == []  # its tags went with it
    assert client.request("DELETE", f"/v2/{repo}/manifests/{digest}").status == 404
    assert client.request("DELETE", f"/v2/{repo}/blobs/{digest_of(layer)}").status == 202
    r = client.request("GET", f"/v2/{repo}/blobs/{digest_of(layer)}")
    assert r.status == 404 and r.error_codes == ["BLOB_UNKNOWN"]
    assert client.request("DELETE", f"/v2/{repo}/blobs/{digest_of(layer)}").status == 404


def test_blobs_are_stored_once(client: Client, server, repo: str) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(2048)
    for n in range(3):
        client.push_blob(f"{repo}/{n}", data)
    digest = digest_of(data)
    stored = list(server.storage.glob(f"blobs/sha256/*/{digest.split(':')[1]}/data"))
    assert len(stored) == 1 and stored[0].read_bytes() == data


def test_metrics(client: Client) -> None:
    client.request("GET", "/v2/")
    r = client.request("GET", "/metrics")
    assert r.status == 200
    text = r.data.decode()
    assert 'registry_http_requests_total{endpoint="base",method="GET",status="200"' in text
    assert "registry_http_request_duration_seconds_bucket" in text
