"""Image routes over a real ``dockyard system service``: the docker CLI and docker-py as clients, raw
HTTP for exact shapes and status codes, a real Distribution registry for pull and push."""

from __future__ import annotations

import base64
import json
import tarfile
from pathlib import Path

import docker
import pytest

from tests.api.conftest import ApiService
from tests.helpers import images


def _client(api_service: ApiService) -> docker.DockerClient:
    return docker.DockerClient(base_url=api_service.host, timeout=120)


def _context_tar(files: dict[str, str]) -> bytes:
    return images.layer_tar_bytes([images.file(name, text) for name, text in files.items()])


# reads -------------------------------------------------------------------------------------


def test_list_inspect_history_shapes(api_service: ApiService, api_busybox: str) -> None:
    listed = api_service.request("GET", "/v1.41/images/json").json()
    assert isinstance(listed, list)
    entry = next(i for i in listed if "busybox:latest" in i["RepoTags"])
    assert set(entry) == {"Containers", "Created", "Id", "Labels", "ParentId", "RepoDigests", "RepoTags",
                          "SharedSize", "Size", "VirtualSize"}  # dockerd 20.10's
    newer = next(i for i in api_service.request("GET", "/v1.45/images/json").json() if i["Id"] == entry["Id"])
    assert set(entry) - set(newer) == {"VirtualSize"}  # gone from API 1.44, as moby answers
    assert entry["Id"].startswith("sha256:") and entry["Size"] > 0 and entry["RepoDigests"] is None
    inspected = api_service.request("GET", "/v1.41/images/busybox/json").json()
    assert inspected["Id"] == entry["Id"] and inspected["RepoTags"] == ["busybox:latest"]
    # the API and the CLI print one document
    cli = json.loads(api_service.cli("image", "inspect", "busybox").stdout)[0]
    assert {k: v for k, v in cli.items() if k != "Metadata"} == {k: v for k, v in inspected.items() if k != "Metadata"}
    latest = api_service.request("GET", "/images/busybox/json").json()
    assert set(inspected) - set(latest) == {"VirtualSize", "Container", "ContainerConfig"}
    history = api_service.request("GET", "/images/busybox:latest/history").json()
    assert history[0]["Id"] == entry["Id"] and history[0]["Tags"] == ["busybox:latest"]
    assert set(history[0]) == {"Comment", "Created", "CreatedBy", "Id", "Size", "Tags"}
    missing = api_service.request("GET", "/images/nosuch/json")
    assert (missing.status, missing.json()) == (404, {"message": "No such image: nosuch:latest"})
    bad = api_service.request("GET", '/images/json?filters={"nope":["x"]}')
    assert (bad.status, bad.json()) == (400, {"message": "Invalid filter 'nope'"})


def test_docker_cli_images_inspect_history(api_service: ApiService, api_busybox: str) -> None:
    out = api_service.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "busybox:latest" in out
    assert api_service.docker("inspect", "--format", "{{.Os}}", "busybox").stdout == "linux\n"
    assert "Imported from -" in api_service.docker("history", "busybox").stdout


def test_tag_and_remove_as_dockerd_answers(api_service: ApiService, api_busybox: str) -> None:
    reply = api_service.request("POST", "/v1.45/images/busybox/tag?repo=example/tagged&tag=v1")
    assert (reply.status, reply.body) == (201, b"")
    # a tag made through the API is in the CLI's listing at once, and the reverse
    assert "example/tagged:v1" in api_service.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    api_service.cli("tag", "busybox", "example/tagged:v2")
    names = [t for i in api_service.request("GET", "/images/json").json() for t in i["RepoTags"]]
    assert "example/tagged:v2" in names
    removed = api_service.request("DELETE", "/images/example/tagged:v1")
    assert (removed.status, removed.json()) == (200, [{"Untagged": "example/tagged:v1"}])
    api_service.docker("rmi", "example/tagged:v2")
    missing = api_service.request("DELETE", "/images/example/tagged:v1")
    assert (missing.status, missing.json()) == (404, {"message": "No such image: example/tagged:v1"})
    failed = api_service.docker("rmi", "nosuch:1", check=False)
    assert failed.returncode == 1 and "Error response from daemon: No such image: nosuch:1" in failed.stderr


def test_save_and_load_through_the_docker_cli(api_service: ApiService, api_busybox: str, tmp_path: Path) -> None:
    api_service.docker("tag", "busybox", "saved:1")
    archive = tmp_path / "saved.tar"
    api_service.docker("save", "-o", str(archive), "saved:1")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["saved:1"]
    api_service.docker("rmi", "saved:1")
    assert api_service.docker("load", "-i", str(archive)).stdout == "Loaded image: saved:1\n"
    quiet = api_service.request("POST", "/images/load?quiet=1", archive.read_bytes(),
                                {"Content-Type": "application/x-tar"})
    assert quiet.status == 200 and quiet.json_lines() == [{"stream": "Loaded image: saved:1\n"}]
    missing = api_service.request("GET", "/images/get?names=nosuch")
    assert (missing.status, missing.json()) == (404, {"message": "No such image: nosuch"})


def test_import_from_the_body(api_service: ApiService, busybox_tar: Path) -> None:
    reply = api_service.request("POST", "/images/create?fromSrc=-&repo=imported&tag=2&message=hi",
                                busybox_tar.read_bytes(), {"Content-Type": "application/x-tar"})
    assert reply.status == 200
    image_id = reply.json_lines()[-1]["status"]
    assert api_service.request("GET", "/images/imported:2/json").json()["Id"] == image_id
    refused = api_service.request("POST", "/images/create?fromSrc=/etc/passwd")
    assert refused.status == 400  # the server's own files are no import source


def test_prune_answers_dockers_shape(api_service: ApiService, api_busybox: str) -> None:
    reply = api_service.request("POST", "/v1.45/images/prune")
    assert reply.status == 200
    assert set(reply.json()) == {"ImagesDeleted", "SpaceReclaimed"}


# registry ----------------------------------------------------------------------------------


def test_push_and_pull_with_the_docker_cli(api_service: ApiService, api_busybox: str, api_registry: object) -> None:
    name = f"{api_registry.host}/api/busybox:1"  # type: ignore[attr-defined]
    api_service.docker("tag", "busybox", name)
    pushed = api_service.docker("push", name).stdout
    assert "1: digest: sha256:" in pushed
    api_service.docker("rmi", name)
    pulled = api_service.docker("pull", name).stdout
    assert f"Status: Downloaded newer image for {name}" in pulled
    again = api_service.docker("pull", name).stdout
    assert f"Status: Image is up to date for {name}" in again
    missing = api_service.docker("pull", f"{api_registry.host}/api/nosuch:1", check=False)  # type: ignore[attr-defined]
    assert missing.returncode == 1 and "Error response from daemon" in missing.stderr


def test_pull_stream_is_dockers_json_progress(api_service: ApiService, api_busybox: str, api_registry: object) -> None:
    name = f"{api_registry.host}/api/stream"  # type: ignore[attr-defined]
    api_service.docker("tag", "busybox", f"{name}:2")
    api_service.docker("push", f"{name}:2")
    api_service.docker("rmi", f"{name}:2")
    reply = api_service.request("POST", f"/v1.45/images/create?fromImage={name}&tag=2")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    lines = reply.json_lines()
    assert lines[0] == {"status": "Pulling from api/stream", "progressDetail": {}, "id": "2"}
    assert lines[-2]["status"].startswith("Digest: sha256:")
    assert lines[-1] == {"status": f"Status: Downloaded newer image for {name}:2"}
    # without a tag anywhere the whole repository comes, as moby pulls it (docker-py's all_tags)
    api_service.docker("tag", "busybox", f"{name}:3")
    api_service.docker("push", f"{name}:3")
    api_service.docker("rmi", f"{name}:2", f"{name}:3")
    every = api_service.request("POST", f"/images/create?fromImage={name}").json_lines()
    assert every[-1] == {"status": f"Status: Downloaded newer image for {name}"}
    tags = {t for i in api_service.request("GET", "/images/json").json() for t in i["RepoTags"] or ()}
    assert {f"{name}:2", f"{name}:3"} <= tags


def test_docker_py_pull_push_with_registry_auth(api_service: ApiService, api_busybox: str, api_basic_registry: object) -> None:
    host = api_basic_registry.host  # type: ignore[attr-defined]
    client = _client(api_service)
    auth = {"username": "alice", "password": "wonderland"}
    client.images.get("busybox").tag(f"{host}/private/bb", "1")
    out = list(client.images.push(f"{host}/private/bb", "1", auth_config=auth, stream=True, decode=True))
    assert any("aux" in line for line in out), out
    client.images.remove(f"{host}/private/bb:1")
    image = client.images.pull(f"{host}/private/bb", "1", auth_config=auth)
    assert f"{host}/private/bb:1" in image.tags
    with pytest.raises(docker.errors.APIError):
        client.images.pull(f"{host}/private/bb", "1", auth_config={"username": "alice", "password": "wrong"})
    ok = api_service.request("POST", "/auth", {"username": "alice", "password": "wonderland", "serveraddress": host})
    assert (ok.status, ok.json()) == (200, {"Status": "Login Succeeded", "IdentityToken": ""})
    refused = api_service.request("POST", "/auth", {"username": "alice", "password": "no", "serveraddress": host})
    assert refused.status == 401


def test_distribution_inspect(api_service: ApiService, api_busybox: str, api_registry: object) -> None:
    name = f"{api_registry.host}/api/dist:1"  # type: ignore[attr-defined]
    api_service.docker("tag", "busybox", name)
    api_service.docker("push", name)
    doc = api_service.request("GET", f"/distribution/{name}/json").json()
    assert doc["Descriptor"]["digest"].startswith("sha256:") and doc["Descriptor"]["size"] > 0
    assert doc["Platforms"][0]["os"] == "linux"


# build and commit ----------------------------------------------------------------------------


def test_build_with_the_docker_cli(api_service: ApiService, api_busybox: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nARG WORD=none\nRUN echo said-$WORD > /said && cat /said\n")
    out = api_service.docker("build", "--build-arg", "WORD=hello", "--label", "made=api", "-t", "built:cli", str(tmp_path))
    assert "said-hello" in out.stdout and "Successfully tagged built:cli" in out.stdout
    labels = api_service.request("GET", "/images/built:cli/json").json()["Config"]["Labels"]
    assert labels == {"made": "api"}
    quiet = api_service.docker("build", "-q", str(tmp_path)).stdout.strip()
    assert quiet.startswith("sha256:")


def test_build_stream_shapes_and_errors(api_service: ApiService, api_busybox: str) -> None:
    context = _context_tar({"Dockerfile": "FROM busybox\nRUN false\n"})
    reply = api_service.request("POST", "/v1.45/build?t=broken", context, {"Content-Type": "application/x-tar"})
    assert reply.status == 200
    last = reply.json_lines()[-1]
    assert set(last) == {"errorDetail", "error"} and last["error"] == last["errorDetail"]["message"]
    context = _context_tar({"sub/Other": "FROM busybox AS base\nFROM base\nLABEL stage=two\n"})
    reply = api_service.request("POST", "/build?dockerfile=sub/Other&t=other:1", context)
    lines = reply.json_lines()
    aux = [line["aux"]["ID"] for line in lines if "aux" in line]
    assert aux and aux[0] == api_service.request("GET", "/images/other:1/json").json()["Id"]


def test_docker_py_build(api_service: ApiService, api_busybox: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox AS one\nRUN touch /one\nFROM busybox AS two\nRUN touch /two\n")
    client = _client(api_service)
    image, logs = client.images.build(path=str(tmp_path), tag="pybuilt:1", target="one", labels={"k": "v"})
    assert "pybuilt:1" in image.tags and image.labels == {"k": "v"}
    assert any("stream" in line for line in logs)


def test_commit_a_container_the_cli_made(api_service: ApiService, api_busybox: str) -> None:
    cid = api_service.cli("create", "busybox", "true").stdout.strip()
    reply = api_service.request("POST", f"/commit?container={cid}&repo=committed&tag=1&comment=hi&changes=ENV%20A%3D1")
    assert reply.status == 201
    image = api_service.request("GET", "/images/committed:1/json").json()
    assert image["Id"] == reply.json()["Id"] and "A=1" in image["Config"]["Env"]
    missing = api_service.request("POST", "/commit?container=nosuch")
    assert missing.status == 404
    api_service.cli("rm", cid)


def test_commit_with_a_config_body_merges_it_over_the_containers_as_dockerd_does(api_service: ApiService,
                                                                                 api_busybox: str) -> None:
    cid = api_service.cli("create", "--env", "A=ctr", "--env", "D=4", "--label", "l=ctr", "--label", "k=ctr",
                          "--expose", "80", "--user", "1:1", "-w", "/tmp", "--health-cmd", "true",
                          "--health-retries", "2", "busybox", "sleep", "1").stdout.strip()
    body = {"Cmd": ["echo", "mine"], "Env": ["A=mine", "C=3"], "Labels": {"l": "mine"}, "ExposedPorts": {"81/tcp": {}},
            "Healthcheck": {"Interval": 5000000000}}
    reply = api_service.request("POST", f"/commit?container={cid}&repo=merged&tag=1&changes=ENV%20B%3D2", body)
    assert reply.status == 201, reply.json()
    config = api_service.request("GET", "/images/merged:1/json").json()["Config"]
    # dockerd 20.10's answer to the same container, body and change: the body's values, the change applied
    # to them, then what the body leaves empty taken from the container (Go's zero values elsewhere)
    assert config == {
        "Hostname": "", "Domainname": "", "User": "1:1", "AttachStdin": False, "AttachStdout": False,
        "AttachStderr": False, "ExposedPorts": {"80/tcp": {}, "81/tcp": {}}, "Tty": False, "OpenStdin": False,
        "StdinOnce": False, "Env": ["A=mine", "C=3", "B=2", "D=4"], "Cmd": ["echo", "mine"],
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5000000000, "Retries": 2},
        "Image": "", "Volumes": None, "WorkingDir": "/tmp", "Entrypoint": None, "OnBuild": None,
        "Labels": {"k": "ctr", "l": "mine"},
    }
    # an empty body is no config: the container's own, with the change
    reply = api_service.request("POST", f"/commit?container={cid}&repo=merged&tag=2&changes=ENV%20B%3D2", {})
    own = api_service.request("GET", "/images/merged:2/json").json()["Config"]
    assert own["Env"] == ["A=ctr", "D=4", "B=2"] and own["Cmd"] == ["sleep", "1"] and own["AttachStdout"] is True
    assert own["Labels"] == {"k": "ctr", "l": "ctr"}
    bad = api_service.request("POST", f"/commit?container={cid}", ["not", "an", "object"])
    assert bad.status == 400
    api_service.cli("rm", cid)


def test_build_from_a_private_base_with_x_registry_config(api_service: ApiService, api_busybox: str,
                                                           api_basic_registry: object) -> None:
    host = api_basic_registry.host  # type: ignore[attr-defined]
    client = _client(api_service)
    client.images.get("busybox").tag(f"{host}/private/base", "1")
    client.images.push(f"{host}/private/base", "1", auth_config={"username": "alice", "password": "wonderland"})
    client.images.remove(f"{host}/private/base:1")
    context = _context_tar({"Dockerfile": f"FROM {host}/private/base:1\nLABEL from=private\n"})
    refused = api_service.request("POST", "/build?t=fromprivate:1", context).json_lines()
    assert "error" in refused[-1]  # the service holds no login for this registry
    logins = {host: {"username": "alice", "password": "wonderland"}}
    header = base64.urlsafe_b64encode(json.dumps(logins).encode()).decode()
    built = api_service.request("POST", "/build?t=fromprivate:1", context, {"X-Registry-Config": header}).json_lines()
    assert "aux" in built[-3] and "error" not in built[-1], built
    assert api_service.request("GET", "/images/fromprivate:1/json").json()["Config"]["Labels"] == {"from": "private"}
