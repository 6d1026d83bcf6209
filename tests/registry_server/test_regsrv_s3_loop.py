"""The registry on a real Ceph RADOS Gateway: a stalled storage call never stalls the worker, the S3 client
repeats only what is safe to repeat, and credentials come from the AWS chain.

Each fault sits in a TCP proxy between the registry (or the S3 client) and the
gateway (``faultproxy.py``): a request is held there, or its answer is lost
after the gateway acted on it. Assertions are about order and outcome, never
about how long something took.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3

from dockyard.registry.server.backend import s3_config
from dockyard.registry.server.config import ServerConfig
from dockyard.registry.server.s3client import S3Client, S3Config, S3Error
from tests.helpers.ceph import Ceph
from tests.registry_server.conftest import Client, RegistryServer, digest_of
from tests.registry_server.faultproxy import FaultProxy
from tests.registry_server.test_regsrv_conformance import OCI_MANIFEST

MiB = 1 << 20
_SAFETY = urllib3.Timeout(connect=5, read=30)  # only so that a broken server fails the test instead of hanging it


@pytest.fixture(scope="module")
def bucket(ceph: Ceph) -> str:
    name = f"loop-{uuid.uuid4().hex[:8]}"
    S3Client(S3Config(ceph.endpoint, name, ceph.access_key, ceph.secret_key)).ensure_bucket()
    return name


@pytest.fixture
def proxy(ceph: Ceph) -> Iterator[FaultProxy]:
    address = urlsplit(ceph.endpoint)
    running = FaultProxy((address.hostname or "127.0.0.1", address.port or 80)).start()
    try:
        yield running
    finally:
        running.release()
        running.close()


def _config(path: Path, ceph: Ceph, bucket: str, endpoint: str, **extra: object) -> Path:
    document = json.loads(ceph.config(bucket, prefix=path.stem, **extra))
    document["storage"]["s3"]["endpoint"] = endpoint
    path.write_text(json.dumps(document))
    return path


# the event loop -----------------------------------------------------------------------


def test_a_stalled_blob_read_does_not_stall_the_worker(tmp_path: Path, ceph: Ceph, bucket: str, proxy: FaultProxy, repo: str) -> None:
    """While one blob GET waits inside its S3 read, a manifest HEAD to the same (single) worker is answered."""
    config = _config(tmp_path / "stall.yaml", ceph, bucket, proxy.endpoint)
    with RegistryServer(tmp_path / "storage", "--config", str(config), "--workers", "1") as server:
        layer = os.urandom(3 * MiB)
        manifest_digest, _ = Client(server.url).push_image(repo, "v1", [layer])
        proxy.hold(rb"GET /" + bucket.encode() + rb"/\S+/blobs/sha256/../" + digest_of(layer)[7:].encode() + rb"/data ")
        with ThreadPoolExecutor(1) as pool:
            blob = pool.submit(Client(server.url).request, "GET", f"/v2/{repo}/blobs/{digest_of(layer)}")
            assert proxy.held.wait(60), "the blob GET never reached its storage read"
            head = Client(server.url).request("HEAD", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}, timeout=_SAFETY)
            assert head.status == 200 and head.headers["Docker-Content-Digest"] == manifest_digest
            tags = Client(server.url).request("GET", f"/v2/{repo}/tags/list", timeout=_SAFETY)
            assert tags.status == 200 and tags.json()["tags"] == ["v1"]
            assert not blob.done()  # the order asserted: both answered while the blob's read was still held
            proxy.release()
            got = blob.result(timeout=120)
        assert got.status == 200 and got.data == layer


# retries --------------------------------------------------------------------------------


def test_only_idempotent_calls_are_repeated_after_a_lost_answer(ceph: Ceph, bucket: str, proxy: FaultProxy) -> None:
    direct = S3Client(S3Config(ceph.endpoint, bucket, ceph.access_key, ceph.secret_key, prefix="retry"))
    through = S3Client(S3Config(proxy.endpoint, bucket, ceph.access_key, ceph.secret_key, prefix="retry"))
    b = bucket.encode()
    # idempotent: repeated, and the caller never sees the fault
    proxy.lose_answer(rb"PUT /%s/retry/plain " % b)
    through.put("plain", b"one")
    proxy.lose_answer(rb"GET /%s/retry/plain " % b)
    assert through.get("plain") == b"one"
    proxy.lose_answer(rb"POST /%s\?delete" % b)
    through.delete_many(["plain"])  # a POST, but deleting twice deletes nothing more
    with pytest.raises(S3Error) as gone:
        direct.head("plain")
    assert gone.value.status == 404
    assert len(proxy.lost) == 3
    # creating a multipart upload: not repeated, so the gateway holds exactly the one it made
    proxy.lose_answer(rb"POST /%s/retry/big\?uploads" % b)
    with pytest.raises(S3Error) as lost:
        through.create_multipart("big")
    assert lost.value.status == 0
    made = [upload_id for key, upload_id, _ in direct.list_multipart("big") if key == "big"]
    assert len(made) == 1, made
    direct.abort_multipart("big", made[0])
    # completing one: not repeated (a repeat finds no upload); the object is there, once
    upload_id = direct.create_multipart("done")
    part = os.urandom(1000)
    etag = direct.upload_part("done", upload_id, 1, part)
    proxy.lose_answer(rb"POST /%s/retry/done\?uploadId=" % b)
    with pytest.raises(S3Error) as lost:
        through.complete_multipart("done", upload_id, [(1, etag)])
    assert lost.value.status == 0 and direct.get("done") == part
    # a conditional PUT: a repeat would fail on its own first write (412); the caller sees the lost answer
    proxy.lose_answer(rb"PUT /%s/retry/lease " % b)
    with pytest.raises(S3Error) as lost:
        through.put("lease", b"mine", headers={"If-None-Match": "*"})
    assert lost.value.status == 0 and direct.get("lease") == b"mine"
    assert len(proxy.lost) == 6


# credentials ----------------------------------------------------------------------------


def _accepted(config: ServerConfig, env: dict[str, str], home: Path) -> bool:
    """Whether the gateway takes the credentials the chain picks (False: it refused them with 403)."""
    try:
        S3Client(s3_config(config, env, home)).put("probe", b"x")
    except S3Error as exc:
        assert exc.status == 403, exc
        return False
    return True


def test_credentials_chain_against_the_gateway(tmp_path: Path, ceph: Ceph, bucket: str) -> None:
    good, bad = (ceph.access_key, ceph.secret_key), (ceph.access_key, "not-the-secret")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[default]\naws_access_key_id = {bad[0]}\naws_secret_access_key = {bad[1]}\n\n"
                           f"[registry]\naws_access_key_id = {good[0]}\naws_secret_access_key = {good[1]}\n")
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(f"[default]\naws_access_key_id = {good[0]}\naws_secret_access_key = {good[1]}\n")
    bare = ServerConfig(root=tmp_path, s3_endpoint=ceph.endpoint, s3_bucket=bucket, s3_prefix="creds")
    file_env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    good_env = {"AWS_ACCESS_KEY_ID": good[0], "AWS_SECRET_ACCESS_KEY": good[1]}
    bad_env = {"AWS_ACCESS_KEY_ID": bad[0], "AWS_SECRET_ACCESS_KEY": bad[1]}
    assert _accepted(bare, {}, home)  # ~/.aws/credentials, default profile
    assert not _accepted(bare, file_env, home)  # AWS_SHARED_CREDENTIALS_FILE instead: its default is wrong
    assert _accepted(bare, {**file_env, "AWS_PROFILE": "registry"}, home)
    assert _accepted(bare, {**good_env, **file_env}, home)  # the environment before the file
    assert not _accepted(bare, {**bad_env, **file_env, "AWS_PROFILE": "registry"}, home)
    configured = replace(bare, s3_access_key=bad[0], s3_secret_key=bad[1])
    assert not _accepted(configured, good_env, home)  # the configuration before everything
    assert _accepted(replace(bare, s3_access_key=good[0], s3_secret_key=good[1]), bad_env, home)


def test_server_takes_its_keys_from_a_credentials_profile(tmp_path: Path, ceph: Ceph, bucket: str, repo: str) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[registry]\naws_access_key_id = {ceph.access_key}\naws_secret_access_key = {ceph.secret_key}\n")
    config = tmp_path / "nokeys.yaml"
    config.write_text(json.dumps({"storage": {"s3": {"endpoint": ceph.endpoint, "bucket": bucket, "prefix": "profile"}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_PROFILE": "registry"}
    with RegistryServer(tmp_path / "storage", "--config", str(config), env=env) as server:
        client = Client(server.url)
        data = os.urandom(5000)
        digest = client.push_blob(repo, data)
        assert client.request("GET", f"/v2/{repo}/blobs/{digest}").data == data


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}


def test_session_token_is_sent_and_signed(tmp_path: Path, ceph: Ceph, bucket: str, proxy: FaultProxy, repo: str) -> None:
    """RGW without STS ignores a token it never issued, but checks the signature, which covers the token."""
    token = "FwoGZXIvYXdzEXAMPLE/session+token="
    config = _config(tmp_path / "token.yaml", ceph, bucket, proxy.endpoint, sessiontoken=token)
    with RegistryServer(tmp_path / "storage", "--config", str(config)) as server:
        client = Client(server.url)
        data = os.urandom(5000)
        digest = client.push_blob(repo, data)
        assert client.request("GET", f"/v2/{repo}/blobs/{digest}").data == data
    sent = [_headers(head) for head in proxy.requests]
    assert len(sent) > 5 and all(h["x-amz-security-token"] == token for h in sent)
    assert all("x-amz-security-token" in h["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";") for h in sent)
    # the gateway refuses a request whose token was changed after signing: the signature covers it
    s3 = S3Client(S3Config(ceph.endpoint, bucket, ceph.access_key, ceph.secret_key, session_token=token))
    path = f"/{bucket}/"
    signed = s3.sign("HEAD", path, {}, {}, False)
    http = urllib3.PoolManager(retries=False)
    assert http.request("HEAD", ceph.endpoint + path, headers=signed).status == 200
    tampered = http.request("HEAD", ceph.endpoint + path, headers={**signed, "x-amz-security-token": token + "x"})
    assert tampered.status == 403
