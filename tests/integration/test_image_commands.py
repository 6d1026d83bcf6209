"""The offline image commands through the real CLI, on a throw-away root."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import Dockyard, needs_root
from tests.helpers import images

pytestmark = needs_root


def _import(dockyard: Dockyard, tar: Path, *args: str) -> str:
    return dockyard("import", *args, str(tar)).stdout.strip() if not args or args[-1].startswith("-") else ""


def test_import_prints_id_and_lists(dockyard: Dockyard, busybox_tar: Path) -> None:
    out = dockyard("import", str(busybox_tar), "bb:1").stdout.strip()
    assert out.startswith("sha256:") and len(out) == 71
    listing = dockyard("images").stdout.splitlines()
    assert listing[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    repo, tag, image_id, *_rest, size = listing[1].split()
    assert (repo, tag, image_id) == ("bb", "1", out[7:19])
    assert size.endswith("MB")


def test_import_changes_and_message(dockyard: Dockyard, busybox_tar: Path) -> None:
    dockyard(
        "import", "-c", 'CMD ["/bin/sh", "-c", "echo hi"]', "-c", "ENV A=1 B=two", "-c", "EXPOSE 80",
        "-c", "WORKDIR /srv", "-c", "LABEL org.example=yes", "-m", "my message", str(busybox_tar), "imp:1",
    )  # fmt: skip
    info = json.loads(dockyard("image", "inspect", "imp:1").stdout)[0]
    assert info["Config"]["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert info["Config"]["Env"] == ["A=1", "B=two"]
    assert info["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert info["Config"]["WorkingDir"] == "/srv"
    assert info["Config"]["Labels"] == {"org.example": "yes"}
    assert info["Comment"] == "my message"
    assert info["RepoTags"] == ["imp:1"]
    history = dockyard("history", "imp:1").stdout.splitlines()
    assert history[0].split()[:2] == ["IMAGE", "CREATED"]
    assert "my message" in history[1]


def test_import_rejects_bad_change(dockyard: Dockyard, busybox_tar: Path, store_root: Path) -> None:
    result = dockyard("import", "-c", "RUN echo no", str(busybox_tar), check=False)
    assert result.returncode == 1
    assert "RUN is not a valid change command" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("algo", ["gzip", "bzip2", "xz", "zstd"])
def test_import_compressed_same_layer(dockyard: Dockyard, busybox_tar: Path, tmp_path: Path, algo: str) -> None:
    plain = dockyard("import", str(busybox_tar)).stdout.strip()
    packed = images.compress_file(busybox_tar, algo, tmp_path / f"bb.{algo}")
    other = dockyard("import", "-", "packed:1", input=packed.read_bytes()).stdout.strip()
    layers = [json.loads(dockyard("inspect", i).stdout)[0]["RootFS"]["Layers"] for i in (plain, other)]
    assert layers[0] == layers[1]


def test_tag_untag_and_delete(dockyard: Dockyard, busybox_tar: Path, store_root: Path) -> None:
    image_id = dockyard("import", str(busybox_tar), "one:latest").stdout.strip()
    dockyard("tag", "one", "registry.example:5000/team/two:v2")
    tags = json.loads(dockyard("inspect", image_id).stdout)[0]["RepoTags"]
    assert tags == ["one:latest", "registry.example:5000/team/two:v2"]
    result = dockyard("rmi", image_id[7:19], check=False)
    assert result.returncode == 1
    assert "referenced in multiple repositories" in result.stderr
    assert dockyard("rmi", "one").stdout == "Untagged: one:latest\n"
    out = dockyard("rmi", "registry.example:5000/team/two:v2").stdout.splitlines()
    assert out[0] == "Untagged: registry.example:5000/team/two:v2"
    assert out[1] == f"Deleted: {image_id}"
    assert out[2].startswith("Deleted: sha256:")  # the layer
    assert dockyard("images", "-q").stdout == ""
    assert not [p for p in (store_root / "overlay2").iterdir() if p.name != "l"]
    assert not list((store_root / "overlay2" / "l").iterdir())


def test_shared_layer_stored_once(dockyard: Dockyard, busybox_tar: Path, store_root: Path) -> None:
    dockyard("import", "-m", "a", str(busybox_tar), "a:1")
    dockyard("import", "-m", "b", str(busybox_tar), "b:1")
    layer_dirs = [p for p in (store_root / "overlay2").iterdir() if p.name != "l"]
    assert len(layer_dirs) == 1
    dockyard("rmi", "a:1")
    assert len([p for p in (store_root / "overlay2").iterdir() if p.name != "l"]) == 1
    dockyard("rmi", "b:1")
    assert [p.name for p in (store_root / "overlay2").iterdir()] == ["l"]


def test_images_filters_and_formats(dockyard: Dockyard, busybox_tar: Path) -> None:
    dockyard("import", "-c", "LABEL tier=db", str(busybox_tar), "db:1")
    dockyard("import", "-m", "dangling", str(busybox_tar))
    dockyard("import", "-c", "LABEL tier=web", str(busybox_tar), "web:1")
    assert dockyard("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.splitlines() == [
        "web:1", "<none>:<none>", "db:1",
    ]  # fmt: skip
    assert dockyard("images", "-f", "dangling=true", "--format", "{{.Tag}}").stdout == "<none>\n"
    assert dockyard("images", "-f", "label=tier=db", "--format", "{{.Repository}}").stdout == "db\n"
    assert dockyard("images", "-f", "reference=w*", "--format", "{{.Repository}}").stdout == "web\n"
    assert dockyard("images", "db", "--format", "{{.Repository}}").stdout == "db\n"
    assert dockyard("images", "-f", "before=web:1", "--format", "{{.Repository}}").stdout.splitlines() == ["<none>", "db"]
    assert dockyard("images", "-f", "since=db:1", "--format", "{{.Repository}}").stdout.splitlines() == ["web", "<none>"]
    row = json.loads(dockyard("images", "--format", "{{json .}}", "web").stdout)
    assert row["Repository"] == "web" and row["Tag"] == "1" and len(row["ID"]) == 12
    table = dockyard("images", "--format", "table {{.ID}}\t{{.Repository}}").stdout.splitlines()
    assert table[0].startswith("IMAGE ID       REPOSITORY")
    full = dockyard("images", "--no-trunc", "-q").stdout.splitlines()
    assert all(line.startswith("sha256:") for line in full)
    bad = dockyard("images", "-f", "color=red", check=False)
    assert bad.returncode == 1 and bad.stderr.strip() == "Error response from daemon: Invalid filter 'color'"


def test_history_human_and_raw(dockyard: Dockyard, busybox_tar: Path) -> None:
    image_id = dockyard("import", str(busybox_tar), "h:1").stdout.strip()
    raw = dockyard("history", "-H=false", "--format", "{{.ID}} {{.Size}} {{.CreatedSince}}", "h:1").stdout.split()
    assert raw[0] == image_id[7:19]
    assert int(raw[1]) > 1_000_000
    assert raw[2].endswith("Z") and "T" in raw[2]
    assert dockyard("history", "-q", "--no-trunc", "h:1").stdout.strip() == image_id


def test_inspect_shape_and_missing(dockyard: Dockyard, busybox_tar: Path, store_root: Path) -> None:
    image_id = dockyard("import", str(busybox_tar), "i:1").stdout.strip()
    info = json.loads(dockyard("inspect", "i:1").stdout)[0]
    assert list(info) == [
        "Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container", "ContainerConfig",
        "DockerVersion", "Author", "Config", "Architecture", "Os", "Size", "VirtualSize", "GraphDriver",
        "RootFS", "Metadata",
    ]  # fmt: skip
    assert info["Id"] == image_id
    assert info["GraphDriver"]["Name"] == "overlay2"
    assert Path(info["GraphDriver"]["Data"]["UpperDir"]).is_dir()
    assert dockyard("inspect", "-f", "{{.Id}}", "i:1").stdout.strip() == image_id
    missing = dockyard("image", "inspect", "nope", check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "Error response from daemon: no such image: nope: No such image: nope:latest"


def test_prune_dangling_and_all(dockyard: Dockyard, busybox_tar: Path) -> None:
    dockyard("import", "-m", "x", str(busybox_tar))
    kept = dockyard("import", str(busybox_tar), "kept:1").stdout.strip()
    out = dockyard("image", "prune", "-f").stdout
    assert out.startswith("Deleted Images:\ndeleted: sha256:")
    assert out.endswith("Total reclaimed space: 0B\n")  # the layer is still used by kept:1
    assert dockyard("images", "-q", "--no-trunc").stdout.strip() == kept
    out = dockyard("image", "prune", "-a", "-f").stdout
    assert "untagged: kept:1" in out
    assert out.strip().endswith("MB")
    assert dockyard("image", "prune", "-f").stdout == "Total reclaimed space: 0B\n"


def test_save_load_roundtrip_same_id_and_bytes(dockyard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    image_id = dockyard("import", str(busybox_tar), "rt:1").stdout.strip()
    dockyard("tag", "rt:1", "rt:2")
    archive = tmp_path / "rt.tar"
    dockyard("save", "-o", str(archive), "rt")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= set(names)
    assert sorted(manifest[0]["RepoTags"]) == ["rt:1", "rt:2"]
    assert layer == busybox_tar.read_bytes()  # the layer comes back byte for byte
    piped = dockyard.raw("save", "rt:1")
    assert piped.returncode == 0 and piped.stdout[:512] == archive.read_bytes()[:512]
    other = Dockyard(tmp_path / "other-root")
    out = other("load", "-i", str(archive)).stdout.splitlines()
    assert sorted(out) == ["Loaded image: rt:1", "Loaded image: rt:2"]
    assert other("images", "-q", "--no-trunc").stdout.splitlines()[0] == image_id
    again = other("load", "-q", input=piped.stdout).stdout
    assert again == "Loaded image: rt:1\n"


def test_load_compressed_archives(dockyard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    dockyard("import", str(busybox_tar), "z:1")
    archive = tmp_path / "z.tar"
    dockyard("save", "-o", str(archive), "z:1")
    for algo in ("gzip", "bzip2", "xz", "zstd"):
        packed = images.compress_file(archive, algo, tmp_path / f"z.{algo}")
        fresh = Dockyard(tmp_path / f"root-{algo}")
        assert fresh("load", "-i", str(packed)).stdout == "Loaded image: z:1\n"


def test_load_replaces_tag_like_docker(dockyard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    first = dockyard("import", "-m", "first", str(busybox_tar), "t:1").stdout.strip()
    other = Dockyard(tmp_path / "other")
    other("import", "-m", "second", str(busybox_tar), "t:1")
    other("save", "-o", str(tmp_path / "t.tar"), "t:1")
    out = dockyard("load", "-i", str(tmp_path / "t.tar")).stdout.splitlines()
    assert out[0] == f"The image t:1 already exists, renaming the old one with ID {first} to empty string"
    assert out[1] == "Loaded image: t:1"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["tag", "x"], 1, "dockyard: 'dockyard tag' requires 2 arguments"),
        (["images", "--bogus"], 125, "unknown flag: --bogus"),
        (["rmi", "nope"], 1, "Error response from daemon: No such image: nope:latest"),
        (["tag", "nope", "x"], 1, "Error response from daemon: No such image: nope:latest"),
        (["history", "nope"], 1, "Error response from daemon: No such image: nope:latest"),
        (["tag", "nope", "Bad"], 1, 'Error parsing reference: "Bad" is not a valid repository/tag: invalid reference format: repository name (library/Bad) must be lowercase'),
        (["load", "-i", "/nonexistent.tar"], 1, "open /nonexistent.tar: no such file or directory"),
    ],
)
def test_errors_have_docker_exit_codes(dockyard: Dockyard, args: list[str], code: int, message: str) -> None:
    result = dockyard(*args, check=False)
    assert result.returncode == code
    assert message in result.stderr


def test_vfs_driver(tmp_path: Path, busybox_tar: Path) -> None:
    vfs = Dockyard(tmp_path / "vfs-root", storage_driver="vfs")
    image_id = vfs("import", str(busybox_tar), "v:1").stdout.strip()
    info = json.loads(vfs("inspect", "v:1").stdout)[0]
    assert info["GraphDriver"]["Name"] == "vfs"
    archive = tmp_path / "v.tar"
    vfs("save", "-o", str(archive), "v:1")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert tar.extractfile(manifest[0]["Layers"][0]).read() == busybox_tar.read_bytes()  # type: ignore[union-attr]
    assert vfs("images", "-q", "--no-trunc").stdout.strip() == image_id
    wrong = vfs("--storage-driver", "overlay2", "images", check=False)
    assert wrong.returncode == 1 and "vfs storage driver" in wrong.stderr


def test_import_from_url(dockyard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    import http.server
    import threading
    from functools import partial

    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(busybox_tar.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{busybox_tar.name}"
        image_id = dockyard("import", url, "fromurl:1").stdout.strip()
        assert json.loads(dockyard("inspect", image_id).stdout)[0]["Comment"] == f"Imported from {url}"
        missing = dockyard("import", url + ".nope", check=False)
        assert missing.returncode == 1 and "404" in missing.stderr
    finally:
        server.shutdown()


def test_present_layers_are_not_extracted_again(dockyard: Dockyard, busybox_tar: Path, store_root: Path, tmp_path: Path) -> None:
    dockyard("import", str(busybox_tar), "again:1")
    archive = tmp_path / "again.tar"
    dockyard("save", "-o", str(archive), "again:1")
    dockyard("rmi", "again:1")
    dockyard("load", "-i", str(archive))
    layer_dirs = sorted(p for p in (store_root / "overlay2").iterdir() if p.name != "l")
    before = [(p.name, p.stat().st_mtime_ns, (p / "diff").stat().st_ino) for p in layer_dirs]
    dockyard("tag", "again:1", "again:2")
    dockyard("rmi", "again:1")
    assert dockyard("load", "-i", str(archive)).stdout == "Loaded image: again:1\n"
    after = [(p.name, p.stat().st_mtime_ns, (p / "diff").stat().st_ino) for p in sorted(p for p in (store_root / "overlay2").iterdir() if p.name != "l")]
    assert after == before


def test_load_untagged_prints_id(dockyard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    image_id = dockyard("import", str(busybox_tar)).stdout.strip()
    archive = tmp_path / "byid.tar"
    dockyard("save", "-o", str(archive), image_id[7:19])
    fresh = Dockyard(tmp_path / "fresh")
    assert fresh("load", "-i", str(archive)).stdout == f"Loaded image ID: {image_id}\n"


def test_rmi_refuses_an_image_a_container_uses(dockyard: Dockyard, busybox_tar: Path, store_root: Path) -> None:
    import sqlite3

    image_id = dockyard("import", str(busybox_tar), "used:1").stdout.strip()
    # the containers table is the runtime's seam: a row there is a container using the image
    with sqlite3.connect(store_root / "dockyard.db") as db:
        db.execute("INSERT INTO containers VALUES ('c0ffee000000aaaa', 'web', ?, '2026-01-01T00:00:00Z', '{}')", (image_id,))
    result = dockyard("rmi", image_id[7:19], check=False)
    assert result.returncode == 1
    assert "container c0ffee000000 is using its referenced image" in result.stderr
    assert dockyard("image", "prune", "-a", "-f").stdout == "Total reclaimed space: 0B\n"
    assert dockyard("images", "-q").stdout.strip() == image_id[7:19]
