"""Digests, chain IDs, manifests, indexes and image configs parsed from the exact bytes."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timezone

import pytest

from dockyard.errors import (
    DigestMismatchError,
    InvalidArgumentError,
    InvalidContentError,
    InvalidDigestError,
    SizeMismatchError,
    UnsupportedMediaTypeError,
)
from dockyard.oci.config import ImageConfig, format_time, parse_time
from dockyard.oci.descriptor import (
    MAX_MANIFEST_SIZE,
    Descriptor,
    Index,
    Manifest,
    Platform,
    canonical_json,
    detect_media_type,
)
from dockyard.oci.digest import Digest, Digester, VerifyingReader, chain_id, chain_ids
from dockyard.oci.mediatype import MediaType

A = "a" * 64
B = "b" * 64
C = "c" * 64
HELLO_SHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"  # sha256("hello")


# --- Digest -----------------------------------------------------------------------


@pytest.mark.parametrize("value,algorithm,hex_", [
    (f"sha256:{A}", "sha256", A),
    (f"sha256:{HELLO_SHA256}", "sha256", HELLO_SHA256),
    ("sha512:" + "0123456789abcdef" * 8, "sha512", "0123456789abcdef" * 8),
])
def test_digest_parse(value: str, algorithm: str, hex_: str) -> None:
    d = Digest.parse(value)
    assert (d.algorithm, d.hex) == (algorithm, hex_)
    assert str(d) == value
    assert d.short == hex_[:12]
    assert Digest.parse(str(d)) == d
    assert hash(d) == hash(Digest(algorithm, hex_))


@pytest.mark.parametrize("value", [
    "",
    A,  # no algorithm
    f"sha256{A}",
    f"sha256:{A[:-1]}",  # 63 hex digits
    f"sha256:{A}a",  # 65
    f"sha256:{'A' * 64}",  # uppercase hex
    f"sha256:{A[:-1]}G",
    f"sha256:{A[:-1]}g",  # not hex
    f"sha256:{A[:-1]} ",
    f" sha256:{A}",
    f"sha256:{A}\n",
    f"SHA256:{A}",  # algorithm is case-sensitive
    f"md5:{'a' * 32}",
    f"sha384:{'a' * 96}",
    f"sha512:{A}",  # sha512 needs 128 digits
    f"sha512:{'F' * 128}",
    "sha256:",
    ":" + A,
    f"sha256:sha256:{A}",
])
def test_digest_parse_rejects(value: str) -> None:
    with pytest.raises(InvalidDigestError):
        Digest.parse(value)
    assert issubclass(InvalidDigestError, InvalidArgumentError)


def test_digest_of_and_digester() -> None:
    assert Digest.of(b"hello") == Digest("sha256", HELLO_SHA256)
    assert Digest.of(b"hello", "sha512").hex == hashlib.sha512(b"hello").hexdigest()
    digester = Digester()
    for part in (b"he", memoryview(b"ll"), b"o"):
        digester.update(part)
    assert digester.digest() == Digest.of(b"hello") and digester.size == 5
    assert Digest.parse(f"sha256:{A}") < Digest.parse(f"sha256:{B}")  # orderable: stable listings


def test_verifying_reader() -> None:
    data = b"x" * 1000
    reader = VerifyingReader(io.BytesIO(data), Digest.of(data), len(data))
    assert reader.read(10) + reader.read() == data
    assert reader.verify() == Digest.of(data)

    wrong = VerifyingReader(io.BytesIO(data), Digest.of(b"other"))
    wrong.read()
    with pytest.raises(DigestMismatchError):
        wrong.verify()

    short = VerifyingReader(io.BytesIO(data[:10]), Digest.of(data), len(data))
    short.read()
    with pytest.raises(SizeMismatchError):
        short.verify()


def test_verifying_reader_stops_past_the_declared_size() -> None:
    data = b"y" * (1 << 20)
    reader = VerifyingReader(io.BytesIO(data), Digest.of(data[:100]), 100)
    got = reader.read()
    assert len(got) == 101  # one byte past the declared size is enough to notice
    assert reader.read(10_000) == b""  # and not a byte more
    with pytest.raises(SizeMismatchError):
        reader.verify()
    buf = bytearray(64)
    reader2 = VerifyingReader(io.BytesIO(data), Digest.of(data[:10]), 10)
    assert reader2.readinto(buf) == 11


# --- chain IDs -----------------------------------------------------------------------------


def test_chain_id_known_values() -> None:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = SHA256(ChainID(Ln-1) + " " + DiffID(Ln)).

    The expected values were computed by hand with
    printf 'sha256:aaa… sha256:bbb…' | sha256sum
    """
    a, b, c = Digest.parse(f"sha256:{A}"), Digest.parse(f"sha256:{B}"), Digest.parse(f"sha256:{C}")
    ab = "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c"
    abc = "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588"
    assert chain_id([a]) == a
    assert str(chain_id([a, b])) == ab
    assert str(chain_id([a, b, c])) == abc
    assert [str(x) for x in chain_ids([a, b, c])] == [str(a), ab, abc]
    # the definition, spelled out
    assert ab == "sha256:" + hashlib.sha256(f"sha256:{A} sha256:{B}".encode()).hexdigest()
    assert abc == "sha256:" + hashlib.sha256(f"{ab} sha256:{C}".encode()).hexdigest()
    assert chain_ids([]) == []
    with pytest.raises(ValueError):
        chain_id([])


def test_chain_id_depends_on_order() -> None:
    a, b = Digest.parse(f"sha256:{A}"), Digest.parse(f"sha256:{B}")
    assert chain_id([a, b]) != chain_id([b, a])
    assert chain_id([a, a]) != a


# --- manifests ------------------------------------------------------------------------------------


def descriptor(media_type: str, hex_: str, size: int, **extra: object) -> dict:
    return {"mediaType": media_type, "digest": f"sha256:{hex_}", "size": size, **extra}


OCI_MANIFEST = (
    b'{\n  "schemaVersion": 2,\n  "mediaType": "application/vnd.oci.image.manifest.v1+json",\n'
    b'  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 7023,'
    b' "digest": "sha256:' + A.encode() + b'"},\n'
    b'  "layers": [\n    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 32654,'
    b' "digest": "sha256:' + B.encode() + b'"},\n'
    b'    {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "size": 16724,'
    b' "digest": "sha256:' + C.encode() + b'", "annotations": {"k": "v"}}\n  ],\n'
    b'  "annotations": {"com.example.key1": "value1"}\n}\n'
)


def test_manifest_keeps_raw_bytes() -> None:
    manifest = Manifest.parse(OCI_MANIFEST)
    assert manifest.raw is OCI_MANIFEST or manifest.raw == OCI_MANIFEST
    assert manifest.digest == Digest.of(OCI_MANIFEST)  # over the exact bytes, whitespace included
    assert manifest.media_type == MediaType.OCI_MANIFEST
    assert manifest.config == Descriptor(MediaType.OCI_CONFIG, Digest.parse(f"sha256:{A}"), 7023)
    assert [(d.digest.hex, d.size, d.media_type) for d in manifest.layers] == [
        (B, 32654, MediaType.OCI_LAYER_GZIP), (C, 16724, MediaType.OCI_LAYER_ZSTD)]
    assert manifest.layers[1].annotations == {"k": "v"}
    assert manifest.annotations == {"com.example.key1": "value1"}
    reformatted = json.dumps(json.loads(OCI_MANIFEST)).encode()
    assert Manifest.parse(reformatted).digest != manifest.digest


def test_docker_schema2_manifest_and_detection() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": MediaType.DOCKER_MANIFEST,
        "config": descriptor(MediaType.DOCKER_CONFIG, A, 1469),
        "layers": [descriptor(MediaType.DOCKER_LAYER_GZIP, B, 2479)],
    }
    raw = json.dumps(doc, indent=3).encode()
    manifest = Manifest.parse(raw)
    assert manifest.media_type == MediaType.DOCKER_MANIFEST and manifest.raw == raw
    # without mediaType the shape decides; a media type passed in (Content-Type) wins
    shape_only = json.dumps({"schemaVersion": 2, "config": doc["config"], "layers": doc["layers"]}).encode()
    assert Manifest.parse(shape_only).media_type == MediaType.OCI_MANIFEST
    assert Manifest.parse(shape_only, MediaType.DOCKER_MANIFEST).media_type == MediaType.DOCKER_MANIFEST


def test_manifest_with_subject_and_artifact_type() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom",
        "config": descriptor(MediaType.OCI_EMPTY, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", 2),
        "layers": [],
        "subject": descriptor(MediaType.OCI_MANIFEST, B, 100),
    }
    manifest = Manifest.parse(json.dumps(doc).encode())
    assert manifest.artifact_type == "application/vnd.example.sbom"
    assert manifest.subject is not None and manifest.subject.digest.hex == B
    assert manifest.layers == ()


@pytest.mark.parametrize("doc", [
    {"schemaVersion": 1, "name": "library/busybox", "tag": "latest", "architecture": "amd64",
     "fsLayers": [{"blobSum": f"sha256:{A}"}], "history": [{"v1Compatibility": "{}"}]},
    {"schemaVersion": 1, "mediaType": MediaType.DOCKER_MANIFEST_V1_SIGNED, "fsLayers": [], "signatures": []},
    {"schemaVersion": 1, "mediaType": MediaType.DOCKER_MANIFEST_V1, "fsLayers": []},
])
def test_schema1_is_rejected_with_a_clear_message(doc: dict) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as info:
        Manifest.parse(json.dumps(doc).encode())
    message = str(info.value)
    assert "schema 1" in message and "removed" in message
    with pytest.raises(UnsupportedMediaTypeError, match="schema 1"):
        Manifest.parse(json.dumps({"schemaVersion": 2, "config": {}, "layers": []}).encode(),
                       MediaType.DOCKER_MANIFEST_V1_SIGNED)


def test_other_media_types_are_not_manifests() -> None:
    index = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": []}).encode()
    with pytest.raises(UnsupportedMediaTypeError):
        Manifest.parse(index)
    with pytest.raises(UnsupportedMediaTypeError):
        Manifest.parse(OCI_MANIFEST, "application/vnd.example.unknown")
    with pytest.raises(UnsupportedMediaTypeError):
        Manifest.parse(b'{"schemaVersion": 2}')  # no type, no shape
    with pytest.raises(UnsupportedMediaTypeError):
        detect_media_type({})


def _pad_to(raw: bytes, size: int) -> bytes:
    """Valid JSON of exactly ``size`` bytes: ``raw`` followed by whitespace."""
    return raw + b" " * (size - len(raw))


def test_size_limit() -> None:
    assert Manifest.parse(_pad_to(OCI_MANIFEST, MAX_MANIFEST_SIZE)).digest == Digest.of(_pad_to(OCI_MANIFEST, MAX_MANIFEST_SIZE))
    with pytest.raises(InvalidContentError, match="larger"):
        Manifest.parse(_pad_to(OCI_MANIFEST, MAX_MANIFEST_SIZE + 1))
    index = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": []}).encode()
    with pytest.raises(InvalidContentError, match="larger"):
        Index.parse(_pad_to(index, MAX_MANIFEST_SIZE + 1))
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
    with pytest.raises(InvalidContentError, match="larger"):
        ImageConfig.parse(_pad_to(config, 64 << 20))


@pytest.mark.parametrize("raw", [
    b"",
    b"{",
    b"not json",
    b"[1, 2]",
    b'"a string"',
    b"null",
    b"\xff\xfe{}",
    b'{"schemaVersion": 2, "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    OCI_MANIFEST[:-10],
], ids=["empty", "open-brace", "not-json", "list", "string", "null", "bad-utf8", "deeply-nested", "truncated"])
def test_invalid_json_is_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidContentError):
        Manifest.parse(raw)
    with pytest.raises(InvalidContentError):
        Index.parse(raw)
    with pytest.raises(InvalidContentError):
        ImageConfig.parse(raw)


@pytest.mark.parametrize("layers", [
    None,
    "not a list",
    [{"mediaType": MediaType.OCI_LAYER, "size": 1}],  # no digest
    [{"mediaType": MediaType.OCI_LAYER, "digest": f"sha256:{A}"}],  # no size
    [{"mediaType": MediaType.OCI_LAYER, "digest": f"sha256:{A}", "size": -1}],
    [{"mediaType": MediaType.OCI_LAYER, "digest": f"sha256:{A}", "size": "12"}],
    [{"mediaType": MediaType.OCI_LAYER, "digest": f"sha256:{A}", "size": 1.5}],
    [{"mediaType": MediaType.OCI_LAYER, "digest": f"sha256:{A}", "size": True}],  # Go: cannot unmarshal bool into int64
    ["a string"],
    [None],
], ids=["no-layers", "layers-not-list", "no-digest", "no-size", "negative-size", "string-size", "float-size",
        "bool-size", "string-descriptor", "null-descriptor"])
def test_invalid_manifest_structure(layers: object) -> None:
    doc: dict = {"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "config": descriptor(MediaType.OCI_CONFIG, A, 1)}
    if layers is not None:
        doc["layers"] = layers
    with pytest.raises(InvalidContentError):
        Manifest.parse(json.dumps(doc).encode())


@pytest.mark.parametrize("bad", [f"sha256:{A.upper()}", "sha256:abc", f"md5:{A[:32]}", 12])
def test_descriptor_with_bad_digest(bad: object) -> None:
    doc = {"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST,
           "config": {"mediaType": MediaType.OCI_CONFIG, "digest": bad, "size": 1}, "layers": []}
    with pytest.raises((InvalidContentError, InvalidDigestError)):
        Manifest.parse(json.dumps(doc).encode())


def test_descriptor_round_trip() -> None:
    data = descriptor(MediaType.OCI_MANIFEST, A, 528, platform={"architecture": "arm64", "os": "linux", "variant": "v8"},
                      annotations={"a": "b"}, urls=["https://example.com/x"], artifactType="application/x")
    d = Descriptor.from_json(data)
    assert d.platform == Platform("arm64", "linux", "v8")
    assert str(d.platform) == "linux/arm64/v8"
    assert Descriptor.from_json(d.to_json()) == d
    with pytest.raises(InvalidContentError):
        Descriptor.from_json("not an object")


# --- indexes ---------------------------------------------------------------------------------------


def test_index_keeps_raw_bytes_and_platforms() -> None:
    raw = json.dumps({
        "schemaVersion": 2,
        "mediaType": MediaType.DOCKER_MANIFEST_LIST,
        "manifests": [
            descriptor(MediaType.DOCKER_MANIFEST, A, 527, platform={"architecture": "amd64", "os": "linux"}),
            descriptor(MediaType.DOCKER_MANIFEST, B, 527,
                       platform={"architecture": "arm", "os": "linux", "variant": "v7"}),
            descriptor(MediaType.DOCKER_MANIFEST, C, 527,
                       platform={"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1"}),
        ],
    }, indent=1).encode() + b"\n"
    index = Index.parse(raw)
    assert index.raw == raw and index.digest == Digest.of(raw)
    assert index.media_type == MediaType.DOCKER_MANIFEST_LIST
    assert [str(m.platform) for m in index.manifests] == ["linux/amd64", "linux/arm/v7", "windows/amd64"]
    assert index.manifests[2].platform is not None and index.manifests[2].platform.os_version == "10.0.17763.1"
    # shape detection
    shape_only = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert Index.parse(shape_only).media_type == MediaType.OCI_INDEX


def test_index_rejections() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        Index.parse(OCI_MANIFEST)
    with pytest.raises(InvalidContentError):
        Index.parse(json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX, "manifests": {}}).encode())
    with pytest.raises(InvalidContentError):
        Index.parse(json.dumps({"mediaType": MediaType.OCI_INDEX,
                                "manifests": [{"mediaType": MediaType.OCI_MANIFEST, "size": 1}]}).encode())


# --- image configs -------------------------------------------------------------------------------


CONFIG = (
    b'{"architecture":"amd64","config":{"Env":["PATH=/usr/bin"],"Cmd":["sh"],"Labels":{"a":"b"}},'
    b'"created":"2023-11-14T22:13:20.123456789Z","history":[{"created":"2023-11-14T22:13:20Z",'
    b'"created_by":"/bin/sh -c #(nop) ADD file:x in / "},{"created":"2023-11-14T22:13:21Z",'
    b'"created_by":"/bin/sh -c #(nop)  CMD [\\"sh\\"]","empty_layer":true}],"os":"linux",'
    b'"rootfs":{"type":"layers","diff_ids":["sha256:' + A.encode() + b'","sha256:' + B.encode() + b'"]}}'
)


def test_image_config_keeps_raw_bytes() -> None:
    config = ImageConfig.parse(CONFIG)
    assert config.raw == CONFIG
    assert config.id == Digest.of(CONFIG)
    assert config.diff_ids == [Digest.parse(f"sha256:{A}"), Digest.parse(f"sha256:{B}")]
    assert chain_id(config.diff_ids) == Digest.parse("sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c")
    assert config.architecture == "amd64" and config.os == "linux"
    assert config.labels == {"a": "b"}
    assert config.config["Cmd"] == ["sh"]
    assert [h.empty_layer for h in config.history] == [False, True]
    assert config.history[1].created_by == '/bin/sh -c #(nop)  CMD ["sh"]'
    assert config.created == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize("doc", [
    {"architecture": "amd64"},  # no rootfs
    {"rootfs": "layers"},
    {"rootfs": {"type": "layers", "diff_ids": "sha256:" + A}},
])
def test_image_config_without_rootfs_is_invalid(doc: dict) -> None:
    with pytest.raises(InvalidContentError):
        ImageConfig.parse(json.dumps(doc).encode())


@pytest.mark.parametrize("diff_id", [f"sha256:{A.upper()}", "sha256:123", A, f"sha1:{A[:40]}"])
def test_image_config_with_bad_diff_ids_is_invalid(diff_id: str) -> None:
    with pytest.raises((InvalidDigestError, InvalidContentError)):
        ImageConfig.parse(json.dumps({"rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode())


def test_image_config_with_no_layers() -> None:
    config = ImageConfig.parse(b'{"rootfs":{"type":"layers"}}')
    assert config.diff_ids == [] and config.history == [] and config.created is None and config.labels == {}


@pytest.mark.parametrize("text,expected", [
    ("2023-11-14T22:13:20Z", datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)),
    ("2023-11-14T22:13:20.5Z", datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=timezone.utc)),
    ("2023-11-14T22:13:20+02:00", datetime(2023, 11, 14, 20, 13, 20, tzinfo=timezone.utc)),
    ("2023-11-14T22:13:20.123456789+02:00", datetime(2023, 11, 14, 20, 13, 20, 123456, tzinfo=timezone.utc)),
    ("2023-11-14T22:13:20.5-05:30", datetime(2023, 11, 15, 3, 43, 20, 500000, tzinfo=timezone.utc)),
    ("", None),
    ("yesterday", None),
])
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_format_time() -> None:
    assert format_time(datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)) == "2023-11-14T22:13:20Z"
    assert format_time(datetime(2023, 11, 14, 22, 13, 20, 120000, tzinfo=timezone.utc)) == "2023-11-14T22:13:20.12Z"


# --- canonical JSON ------------------------------------------------------------------------------


def test_canonical_json_matches_go() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "x"]}) == b'{"b":1,"a":[true,null,"x"]}'
    assert canonical_json({"cmd": "a<b>&c"}) == b'{"cmd":"a\\u003cb\\u003e\\u0026c"}'
    assert canonical_json({"s": "caf\u00e9 \U0001f433"}) == '{"s":"caf\u00e9 \U0001f433"}'.encode()
    # Go's encoding/json always escapes U+2028 and U+2029 (JSONP safety)
    assert canonical_json({"s": "a\u2028b\u2029c"}) == b'{"s":"a\\u2028b\\u2029c"}'
