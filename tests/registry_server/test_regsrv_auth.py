"""Auth against the real server: htpasswd Basic, token mode with the built-in endpoint, TLS; docker login."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from tests.conftest import needs_root
from tests.registry_server.conftest import (
    ACL,
    SERVICE,
    Client,
    RegistryServer,
    basic,
    bcrypt_hash,
    bearer,
    digest_of,
    token,
)


@pytest.fixture(scope="module")
def htpasswd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    work = tmp_path_factory.mktemp("htpasswd")
    (work / "htpasswd").write_text(f"alice:{bcrypt_hash('wonderland')}\n# a comment\nbob:{bcrypt_hash('builder').replace('$2b$', '$2y$')}\n")
    with RegistryServer(work / "storage", "--htpasswd", str(work / "htpasswd")) as running:
        yield running


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    work = tmp_path_factory.mktemp("token")
    (work / "acl.yaml").write_text(ACL.format(alice=bcrypt_hash("wonderland"), bob=bcrypt_hash("builder")))
    with RegistryServer(work / "storage", "--token-acl", str(work / "acl.yaml")) as running:
        yield running


# htpasswd ---------------------------------------------------------------------


def test_basic_auth(htpasswd_server: RegistryServer) -> None:
    client = Client(htpasswd_server.url)
    r = client.request("GET", "/v2/")
    assert r.status == 401 and r.error_codes == ["UNAUTHORIZED"]
    assert r.headers["WWW-Authenticate"] == 'Basic realm="dockyard-registry"'
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert client.request("GET", "/v2/", headers=basic("alice", "wrong")).status == 401
    assert client.request("GET", "/v2/", headers=basic("nobody", "x")).status == 401
    assert client.request("GET", "/v2/", headers=basic("alice", "wonderland")).status == 200
    assert client.request("GET", "/v2/", headers=basic("bob", "builder")).status == 200  # a $2y$ entry
    data = os.urandom(100)
    r = client.request("POST", f"/v2/team/x/blobs/uploads/?digest={digest_of(data)}", data, basic("bob", "builder"))
    assert r.status == 201
    assert client.request("GET", f"/v2/team/x/blobs/{digest_of(data)}").status == 401


# token mode -------------------------------------------------------------------


def test_token_challenges(token_server: RegistryServer) -> None:
    client = Client(token_server.url)
    realm = f"{token_server.url}/auth/token"
    r = client.request("GET", "/v2/")
    assert r.status == 401 and r.error_codes == ["UNAUTHORIZED"]
    assert r.headers["WWW-Authenticate"] == f'Bearer realm="{realm}",service="{SERVICE}"'
    r = client.request("GET", "/v2/alice/app/tags/list")
    assert r.headers["WWW-Authenticate"] == f'Bearer realm="{realm}",service="{SERVICE}",scope="repository:alice/app:pull"'
    r = client.request("POST", "/v2/alice/app/blobs/uploads/")
    assert r.headers["WWW-Authenticate"].endswith(',scope="repository:alice/app:pull,push"')
    r = client.request("DELETE", f"/v2/alice/app/manifests/{digest_of(b'x')}")
    assert r.headers["WWW-Authenticate"].endswith(',scope="repository:alice/app:delete"')
    r = client.request("GET", "/v2/", headers=bearer("not.a.jwt"))
    assert r.status == 401 and r.headers["WWW-Authenticate"].endswith(',error="invalid_token"')


def test_token_endpoint_grants_what_the_acl_allows(token_server: RegistryServer) -> None:
    import jwt

    client = Client(token_server.url)
    alice = basic("alice", "wonderland")
    claims = jwt.decode(token(client, "repository:alice/app:pull,push,delete", "repository:bob/app:pull", credentials=alice),
                        options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["aud"] == SERVICE
    assert claims["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["delete", "pull", "push"]},
        {"type": "repository", "name": "bob/app", "actions": []},
    ]
    anonymous = jwt.decode(token(client, "repository:public/x:pull,push"), options={"verify_signature": False})
    assert anonymous["sub"] == "" and anonymous["access"][0]["actions"] == ["pull"]
    bob_home = jwt.decode(token(client, "repository:bob-home/x:push", credentials=basic("bob", "builder")), options={"verify_signature": False})
    assert bob_home["access"][0]["actions"] == ["push"]  # ${account} in the rule
    wrong = client.request("GET", f"/auth/token?service={SERVICE}", headers=basic("alice", "nope"))
    assert wrong.status == 401 and wrong.error_codes == ["UNAUTHORIZED"]
    r = client.request("POST", "/auth/token", f"grant_type=password&username=alice&password=wonderland&service={SERVICE}&scope=repository:alice/app:pull".encode(),
                       {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200 and r.json()["access_token"]


def test_token_actions_are_enforced(token_server: RegistryServer) -> None:
    client = Client(token_server.url)
    alice = basic("alice", "wonderland")
    push = token(client, "repository:alice/app:pull,push", credentials=alice)
    data = os.urandom(64)
    r = client.request("POST", f"/v2/alice/app/blobs/uploads/?digest={digest_of(data)}", data, bearer(push))
    assert r.status == 201
    pull_only = token(client, "repository:alice/app:pull", credentials=alice)
    assert client.request("GET", f"/v2/alice/app/blobs/{digest_of(data)}", headers=bearer(pull_only)).status == 200
    # alice may push but asked too narrowly: a challenge for a better token
    r = client.request("POST", "/v2/alice/app/blobs/uploads/", headers=bearer(pull_only))
    assert r.status == 401 and 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    # bob may not touch alice's repository at all
    bobs = token(client, "repository:alice/app:pull,push", credentials=basic("bob", "builder"))
    r = client.request("POST", "/v2/alice/app/blobs/uploads/", headers=bearer(bobs))
    assert r.status == 403 and r.error_codes == ["DENIED"]
    # anonymous pull of public repositories, and nothing more
    alice_public = token(client, "repository:public/x:pull,push", credentials=alice)
    assert client.request("POST", f"/v2/public/x/blobs/uploads/?digest={digest_of(data)}", data, bearer(alice_public)).status == 201
    anonymous = token(client, "repository:public/x:pull,push")
    assert client.request("HEAD", f"/v2/public/x/blobs/{digest_of(data)}", headers=bearer(anonymous)).status == 200
    assert client.request("POST", "/v2/public/x/blobs/uploads/", headers=bearer(anonymous)).status == 403
    # a token for one repository is no token for another
    assert client.request("HEAD", f"/v2/alice/other/blobs/{digest_of(data)}", headers=bearer(push)).status == 401
    # mounting needs pull on the source: bob cannot mount alice's blob into his home
    bob_home = token(client, "repository:bob-home/x:pull,push", "repository:alice/app:pull", credentials=basic("bob", "builder"))
    r = client.request("POST", f"/v2/bob-home/x/blobs/uploads/?mount={digest_of(data)}&from=alice/app", headers=bearer(bob_home))
    assert r.status == 202
    catalog = token(client, "registry:catalog:*", credentials=alice)
    assert client.request("GET", "/v2/_catalog", headers=bearer(catalog)).status == 200
    assert client.request("GET", "/v2/_catalog", headers=bearer(push)).status == 401


def test_token_key_is_shared_by_processes_on_one_storage(token_server: RegistryServer, tmp_path: Path) -> None:
    second = RegistryServer(token_server.storage, *token_server.args).start()
    try:
        issued = token(Client(token_server.url), "repository:alice/app:pull", credentials=basic("alice", "wonderland"))
        assert Client(second.url).request("GET", "/v2/alice/app/tags/list", headers=bearer(issued)).status in (200, 404)
    finally:
        second.stop()


# TLS ---------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with RegistryServer(tmp_path / "storage", "--tls-cert", str(cert), "--tls-key", str(key)) as secure:
        assert secure.url.startswith("https://")
        client = Client(secure.url, ca_certs=str(cert))
        assert client.request("GET", "/v2/").status == 200
        client.push_image("tls/x", "v1", [os.urandom(10)])
        with pytest.raises(urllib3.exceptions.HTTPError):
            Client(secure.url.replace("https://", "http://")).request("GET", "/v2/")
    refused = subprocess.run(
        ["python3", "-m", "dockyard", "--root", str(tmp_path / "r"), "registry", "serve", "--root", str(tmp_path / "s"), "--addr", "127.0.0.1:0", "--tls-cert", str(cert)],
        capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode != 0 and "--tls-key" in refused.stderr


# docker login -------------------------------------------------------------------


def _login(dockerd, host: str, user: str, password: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return dockerd.run("login", host, "-u", user, "--password-stdin", input=password, check=False)


@needs_root
@pytest.mark.docker
@pytest.mark.parametrize("mode", ["htpasswd", "token"])
def test_docker_login_push_pull(dockerd, mode: str, htpasswd_server: RegistryServer, token_server: RegistryServer, busybox_tar: Path) -> None:  # type: ignore[no-untyped-def]
    server = htpasswd_server if mode == "htpasswd" else token_server
    remote = f"{server.host}/alice/bb:{mode}"
    dockerd.run("import", str(busybox_tar), remote)
    try:
        assert _login(dockerd, server.host, "alice", "wrong").returncode != 0
        denied = dockerd.run("push", remote, check=False)
        assert denied.returncode != 0
        login = _login(dockerd, server.host, "alice", "wonderland")
        assert login.returncode == 0 and "Login Succeeded" in login.stdout, login.stderr
        dockerd.run("push", remote)
        image_id = dockerd.image_id(remote)
        dockerd.run("rmi", remote)
        dockerd.run("pull", remote)
        assert dockerd.image_id(remote) == image_id
        if mode == "token":
            # bob is signed in but the ACL gives him nothing under alice/
            dockerd.run("logout", server.host)
            assert _login(dockerd, server.host, "bob", "builder").returncode == 0
            push = dockerd.run("push", remote, check=False)
            assert push.returncode != 0 and "denied" in (push.stdout + push.stderr)
    finally:
        dockerd.run("logout", server.host, check=False)
        dockerd.run("rmi", "-f", remote, check=False)
