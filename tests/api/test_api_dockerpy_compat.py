"""What docker-py's own integration suite (docker/docker-py tests/integration, run by scripts/dockerpy-suite)
found missing or wrong, each pinned here with the docker-py test it came from."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest

from tests.api.conftest import ApiService
from tests.helpers import images


def _client(api_service: ApiService) -> docker.APIClient:
    return docker.APIClient(base_url=api_service.host, version="auto", timeout=120)


def _context_tar(files: dict[str, str]) -> bytes:
    return images.layer_tar_bytes([images.file(name, text) for name, text in files.items()])


def test_version_has_every_system_version_field(api_service: ApiService) -> None:
    # api_client_test.py::InformationTest::test_version
    document = api_service.request("GET", "/v1.45/version").json()
    assert isinstance(document, dict)
    assert {"GoVersion", "GitCommit", "Version", "ApiVersion", "MinAPIVersion", "Os", "Arch"} <= set(document)


def test_commit_a_container_whose_command_just_ended(api_service: ApiService, api_busybox: str) -> None:
    # api_image_test.py::CommitTest::test_commit (and test_commit_with_changes, RemoveImageTest::test_remove):
    # commit (pause=True) right after start, while the stored state may still say running
    client = _client(api_service)
    try:
        for _ in range(3):
            cid = client.create_container(api_busybox, ["touch", "/test"])["Id"]
            client.start(cid)
            image_id = client.commit(cid)["Id"]
            assert client.inspect_image(image_id)["Parent"] == client.inspect_image(api_busybox)["Id"]
            client.remove_container(cid, force=True)
            client.remove_image(image_id)
    finally:
        client.close()


def test_build_with_a_dockerfile_outside_the_context(api_service: ApiService, api_busybox: str,
                                                     tmp_path: Path) -> None:
    # api_build_test.py::BuildTest::test_build_out_of_context_dockerfile: docker-py puts the Dockerfile in
    # the tar under a random name and sends dockerfile=<that name>&dockerfile=<its text>; the first counts
    context = tmp_path / "context"
    context.mkdir()
    (context / "file.txt").write_text("hello world")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "Dockerfile").write_text(f"FROM {api_busybox}\nCOPY . /src\n")
    client = _client(api_service)
    try:
        lines = list(client.build(path=str(context), dockerfile=str(outside / "Dockerfile"), tag="outside-df",
                                  decode=True))
        assert "Successfully tagged outside-df:latest" in lines[-1]["stream"]
    finally:
        client.close()
    body = _context_tar({".dockerfile.x": f"FROM {api_busybox}\n", "Dockerfile": "FROM nosuch\n"})
    reply = api_service.request("POST", "/build?dockerfile=.dockerfile.x&dockerfile=FROM+nosuch&q=1", body,
                                {"Content-Type": "application/x-tar"})
    assert "aux" in reply.json_lines()[0]


def test_build_failure_carries_the_run_exit_code(api_service: ApiService, api_busybox: str) -> None:
    # api_build_test.py::BuildTest::test_build_with_network_mode: errorDetail.code is the RUN's exit code;
    # models_images_test.py::ImageCollectionTest::test_build_with_error: the classic builder's message
    body = _context_tar({"Dockerfile": f"FROM {api_busybox}\nRUN exit 3\n"})
    reply = api_service.request("POST", "/build?nocache=1", body, {"Content-Type": "application/x-tar"})
    last = reply.json_lines()[-1]
    message = "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    assert last == {"errorDetail": {"message": message, "code": 3}, "error": message}, json.dumps(last)


def test_build_extra_hosts_repeated(api_service: ApiService, api_busybox: str) -> None:
    # api_build_test.py::BuildTest::test_build_with_extra_hosts: docker-py sends extrahosts=a:ip&extrahosts=b:ip
    body = _context_tar({"Dockerfile": f"FROM {api_busybox}\nRUN cat /etc/hosts\n"})
    reply = api_service.request("POST", "/build?nocache=1&extrahosts=one.test:127.0.0.1&extrahosts=two.test:127.0.0.2,"
                                "three.test:127.0.0.3", body, {"Content-Type": "application/x-tar"})
    printed = "".join(str(line.get("stream", "")) for line in reply.json_lines())
    assert "127.0.0.1\tone.test" in printed and "127.0.0.2\ttwo.test" in printed and "127.0.0.3\tthree.test" in printed


def test_aliases_leave_out_the_short_id_from_api_1_45(api_service: ApiService, api_busybox: str) -> None:
    # models_containers_test.py::ContainerCollectionTest::test_run_with_networking_config and
    # ..._only_undeclared_network: from API 1.45 a network's Aliases are only the ones asked for
    client = _client(api_service)
    net = client.create_network("compat-aliases")["Id"]
    try:
        config = client.create_networking_config({"compat-aliases": client.create_endpoint_config(aliases=["hello"])})
        cid = client.create_container(api_busybox, "true", networking_config=config,
                                      host_config=client.create_host_config(network_mode="compat-aliases"))["Id"]
        old = api_service.request("GET", f"/v1.41/containers/{cid}/json").json()
        new = api_service.request("GET", f"/v1.45/containers/{cid}/json").json()
        assert isinstance(old, dict) and isinstance(new, dict)
        assert old["NetworkSettings"]["Networks"]["compat-aliases"]["Aliases"] == ["hello", cid[:12]]
        assert new["NetworkSettings"]["Networks"]["compat-aliases"]["Aliases"] == ["hello"]
        client.remove_container(cid, force=True)
    finally:
        client.remove_network(net)
        client.close()


def test_load_of_a_body_that_is_no_archive(api_service: ApiService) -> None:
    # models_images_test.py::ImageCollectionTest::test_load_error: a 200 whose stream carries the error
    reply = api_service.request("POST", "/images/load", b"abc", {"Content-Type": "application/x-tar"})
    assert reply.status == 200
    assert "errorDetail" in reply.json_lines()[-1]
    client = docker.DockerClient(base_url=api_service.host, version="auto", timeout=120)
    try:
        with pytest.raises(docker.errors.ImageLoadError):
            client.images.load(b"abc")
    finally:
        client.close()
