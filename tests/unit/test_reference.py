"""Image reference parsing, ported from distribution/reference's test tables.

Cases follow reference_test.go and normalize_test.go. Where dockyard
deliberately differs from the current Go module, the case says why:
sha512 digests are accepted (the OCI image-spec allows them), and the 255
character limit covers the whole name, domain included, as in docker 20.10.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dockyard.errors import InvalidArgumentError, InvalidReferenceError
from dockyard.oci.digest import Digest
from dockyard.oci.reference import (
    Reference,
    from_stored,
    is_image_id,
    parse,
    parse_docker_ref,
    parse_normalized,
    split_docker_domain,
    validate_tag,
)

F64 = "f" * 64
SHA_F = f"sha256:{F64}"
SHA_REDIS = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
SHA_BUSYBOX = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"
HEX_ID = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

# Expected messages: docker CLI wording.
FORMAT = "invalid reference format"
UPPERCASE = "invalid reference format: repository name must be lowercase"
TOO_LONG = "invalid reference format: repository name must not be more than 255 characters"
EMPTY = "invalid reference format: repository name must have at least one component"
# Digest failures carry Digest's own detail after the prefix; matched by prefix.
DIGEST_ERR = "invalid reference format: "


@dataclass(frozen=True)
class Case:
    input: str
    name: str = ""
    domain: str = ""
    tag: str | None = None
    digest: str | None = None
    error: str | None = None  # expected str(error); DIGEST_ERR matches by prefix


def ok(input: str, name: str, domain: str = "", tag: str | None = None, digest: str | None = None) -> Case:
    return Case(input, name, domain, tag, digest)


def err(input: str, error: str) -> Case:
    return Case(input, error=error)


def _check_error(exc: InvalidReferenceError, expected: str) -> None:
    if expected == DIGEST_ERR:
        assert str(exc).startswith(DIGEST_ERR)
        assert str(exc) != FORMAT
    else:
        assert str(exc) == expected


# --- reference_test.go: TestReferenceParse (un-normalised Parse) -------------

PARSE_CASES = [
    ok("test_com", "test_com"),
    ok("test.com:tag", "test.com", tag="tag"),
    ok("test.com:5000", "test.com", tag="5000"),
    ok("test.com/repo:tag", "test.com/repo", "test.com", tag="tag"),
    ok("test:5000/repo", "test:5000/repo", "test:5000"),
    ok("test:5000/repo:tag", "test:5000/repo", "test:5000", tag="tag"),
    ok(f"test:5000/repo@{SHA_F}", "test:5000/repo", "test:5000", digest=SHA_F),
    ok(f"test:5000/repo:tag@{SHA_F}", "test:5000/repo", "test:5000", tag="tag", digest=SHA_F),
    err("", EMPTY),
    err(":justtag", FORMAT),
    err(f"@{SHA_F}", FORMAT),
    err("repo@sha256:" + "f" * 34, DIGEST_ERR),  # ErrDigestInvalidLength
    err(f"validname@invaliddigest:{F64}", DIGEST_ERR),  # ErrDigestUnsupported
    err(f"validname@md5:{'f' * 32}", DIGEST_ERR),
    err(f"validname@sha256:{'F' * 64}", DIGEST_ERR),  # hex must be lowercase
    # Go rejects sha512 unless registered; the OCI image-spec allows it.
    ok(f"validname@sha512:{'f' * 128}", "validname", digest=f"sha512:{'f' * 128}"),
    err("Uppercase:tag", UPPERCASE),
    err("test:5000/Uppercase/lowercase:tag", UPPERCASE),
    # An uppercase first component is a valid domain-name.
    ok("Uppercase/lowercase:tag", "Uppercase/lowercase", "Uppercase", tag="tag"),
    ok("lowercase:Uppercase", "lowercase", tag="Uppercase"),
    err("domain/" + "a" * 256 + ":tag", TOO_LONG),
    ok("a/" * 127 + "a:tag-puts-this-over-max", "a/" * 127 + "a", "a", tag="tag-puts-this-over-max"),
    # The limit is on the whole name, domain included (docker 20.10).
    err("example.com/" + "a" * 255 + ":tag", TOO_LONG),
    ok("example.com/" + "a" * 243 + ":tag", "example.com/" + "a" * 243, "example.com", tag="tag"),
    err("example.com/" + "a" * 244, TOO_LONG),
    err("aa/asdf$$^/aa", FORMAT),
    ok("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com"),
    ok("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", tag="some-long-tag"),
    ok("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app", "b.gcr.io", tag="test.example.com"),
    ok("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage", "xn--n3h.com", tag="xn--n3h.com"),
    ok(f"xn--7o8h.com/myimage:xn--7o8h.com@{SHA_F}", "xn--7o8h.com/myimage", "xn--7o8h.com", tag="xn--7o8h.com", digest=SHA_F),
    ok("foo_bar.com:8080", "foo_bar.com", tag="8080"),
    ok("foo/foo_bar.com:8080", "foo/foo_bar.com", "foo", tag="8080"),
    ok("192.168.1.1", "192.168.1.1"),
    ok("192.168.1.1:tag", "192.168.1.1", tag="tag"),
    ok("192.168.1.1:5000", "192.168.1.1", tag="5000"),
    ok("192.168.1.1/repo", "192.168.1.1/repo", "192.168.1.1"),
    ok("192.168.1.1:5000/repo", "192.168.1.1:5000/repo", "192.168.1.1:5000"),
    ok("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo", "192.168.1.1:5000", tag="5050"),
    err("[2001:db8::1]", FORMAT),
    err("[2001:db8::1]:5000", FORMAT),
    err("[2001:db8::1]:tag", FORMAT),
    ok("[2001:db8::1]/repo", "[2001:db8::1]/repo", "[2001:db8::1]"),
    ok("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo", "[2001:db8:1:2:3:4:5:6]", tag="tag"),
    ok("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000"),
    ok("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", tag="tag"),
    ok(f"[2001:db8::1]:5000/repo@{SHA_F}", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", digest=SHA_F),
    ok(f"[2001:db8::1]:5000/repo:tag@{SHA_F}", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", tag="tag", digest=SHA_F),
    ok("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo", "[2001:db8::]:5000"),
    ok("[::1]:5000/repo", "[::1]:5000/repo", "[::1]:5000"),
    err("[fe80::1%eth0]:5000/repo", FORMAT),
    err("[fe80::1%@invalidzone]:5000/repo", FORMAT),
    # Tag grammar edges: 128 characters at most, no leading '.' or '-'.
    ok("repo:" + "t" * 128, "repo", tag="t" * 128),
    err("repo:" + "t" * 129, FORMAT),
    err("repo:-tag", FORMAT),
    err("repo:.tag", FORMAT),
    ok("repo:_tag", "repo", tag="_tag"),
    err("repo:tag\n", FORMAT),  # `$` must not accept a trailing newline
    err("repo:täg", FORMAT),  # \w is ASCII-only, as in RE2
]


@pytest.mark.parametrize("case", PARSE_CASES, ids=lambda c: c.input[:60] or "<empty>")
def test_parse(case: Case) -> None:
    if case.error is not None:
        with pytest.raises(InvalidReferenceError) as info:
            parse(case.input)
        _check_error(info.value, case.error)
        return
    ref = parse(case.input)
    assert str(ref) == case.input
    assert ref.name == case.name
    assert ref.domain == case.domain
    assert ref.tag == case.tag
    assert (str(ref.digest) if ref.digest else None) == case.digest


# --- reference_test.go: TestDomainAndPath ------------------------------------

@pytest.mark.parametrize(
    ("value", "domain", "path"),
    [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "", "test_com/foo"),
        ("test:8080/foo", "test:8080", "foo"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("test-com:8080/foo", "test-com:8080", "foo"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ],
)
def test_domain_and_path(value: str, domain: str, path: str) -> None:
    ref = parse(value)
    assert (ref.domain, ref.path) == (domain, path)


# --- reference_test.go: TestParseNamed (canonical iff normalising is a no-op) -

@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("test.com/foo", True),
        ("test:8080/foo", True),
        ("docker.io/library/foo", True),
        ("test_com/foo", False),
        ("test.com", False),
        ("foo", False),
        ("library/foo", False),
        ("docker.io/foo", False),  # ambiguous: library/ is added
    ],
)
def test_canonical_names(value: str, canonical: bool) -> None:
    assert (str(parse_normalized(value)) == value) is canonical


# --- reference_test.go: TestWithTag / TestWithDigest -------------------------

@pytest.mark.parametrize(
    ("name", "digest", "tag", "combined"),
    [
        ("test.com/foo", None, "tag", "test.com/foo:tag"),
        ("foo", None, "tag2", "foo:tag2"),
        ("test.com:8000/foo", None, "tag4", "test.com:8000/foo:tag4"),
        ("test.com:8000/foo", None, "TAG5", "test.com:8000/foo:TAG5"),
        ("test.com:8000/foo", SHA_F, "TAG5", f"test.com:8000/foo:TAG5@{SHA_F}"),
    ],
)
def test_with_tag(name: str, digest: str | None, tag: str, combined: str) -> None:
    ref = parse(name)
    if digest is not None:
        ref = ref.with_digest(Digest.parse(digest))
    assert str(ref.with_tag(tag)) == combined


@pytest.mark.parametrize(
    ("name", "tag", "combined"),
    [
        ("test.com/foo", None, f"test.com/foo@{SHA_F}"),
        ("foo", None, f"foo@{SHA_F}"),
        ("test.com:8000/foo", None, f"test.com:8000/foo@{SHA_F}"),
        ("test.com:8000/foo", "latest", f"test.com:8000/foo:latest@{SHA_F}"),
    ],
)
def test_with_digest(name: str, tag: str | None, combined: str) -> None:
    ref = parse(name)
    if tag is not None:
        ref = ref.with_tag(tag)
    assert str(ref.with_digest(Digest.parse(SHA_F))) == combined


# --- normalize_test.go: TestValidateReferenceName / TestValidateRemoteName ---

VALID_NORMALIZED = [
    "docker/docker",
    "library/debian",
    "debian",
    "localhost/library/debian",
    "localhost/debian",
    "LOCALDOMAIN/library/debian",
    "LOCALDOMAIN/debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    # With a domain, a 64-hex path is unambiguously a name, not an ID.
    f"docker.io/{HEX_ID}",
    "Docker/docker",
    "DOCKER/docker",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
]

INVALID_NORMALIZED = [
    ("https://github.com/docker/docker", FORMAT),
    ("docker/Docker", UPPERCASE),
    ("-docker", FORMAT),
    ("-docker/docker", FORMAT),
    ("-docker.io/docker/docker", FORMAT),
    ("docker///docker", FORMAT),
    ("docker.io/docker/Docker", UPPERCASE),
    ("docker.io/docker///docker", FORMAT),
    ("[fc00::1]", FORMAT),
    ("[fc00::1]:5000", FORMAT),
    ("fc00::1:5000/debian", FORMAT),
    ("[fe80::1%eth0]:5000/debian", FORMAT),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", FORMAT),
    (HEX_ID, f"invalid repository name ({HEX_ID}), cannot specify 64-byte hexadecimal strings"),
    ("docker-/docker", FORMAT),
    ("-docker-/docker", FORMAT),
    ("____/____", FORMAT),
    ("_docker/_docker", FORMAT),
    ("dock..er/docker", FORMAT),
    ("dock_.er/docker", FORMAT),
    ("dock-.er/docker", FORMAT),
    ("docker/", FORMAT),
    ("", FORMAT),
    ("Busybox", UPPERCASE),  # `docker pull Busybox`
    ("A_B/x", UPPERCASE),  # a bad host, but fine once lowercased
    (f"busybox@SHA256:{F64}", UPPERCASE),  # the check runs up to the first ':'
    (f"busybox@sha256:{'a' * 63}", DIGEST_ERR),
    ("busybox:-tag", FORMAT),
    ("\u0130mage", UPPERCASE),  # Go lowercases U+0130 to a plain 'i'
    ("_".join(["this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255"] * 4) + "/docker", TOO_LONG),
    # docker.io/library/ counts towards the limit: 18 + 238 > 255.
    ("a" * 238, TOO_LONG),
]


@pytest.mark.parametrize("value", VALID_NORMALIZED)
def test_parse_normalized_valid(value: str) -> None:
    ref = parse_normalized(value)
    assert ref.domain
    # Normalising is idempotent.
    assert parse_normalized(str(ref)) == ref


@pytest.mark.parametrize(("value", "error"), INVALID_NORMALIZED, ids=lambda v: v[:50] or "<empty>")
def test_parse_normalized_invalid(value: str, error: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_normalized(value)
    _check_error(info.value, error)


def test_name_length_limit_boundary() -> None:
    ref = parse_normalized("a" * 237)
    assert len(ref.name) == 255


# --- normalize_test.go: TestParseRepositoryInfo ------------------------------
# (path, familiar name, full name, ambiguous spelling or None, domain)

REPOSITORY_INFO = [
    ("fooo", "localhost/fooo", "localhost/fooo", None, "localhost"),
    ("fooo/bar", "localhost/fooo/bar", "localhost/fooo/bar", None, "localhost"),
    ("fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", None, "LOCALDOMAIN"),
    ("fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", None, "LOCALDOMAIN"),
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", None, "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", None, "docker.io"),
    ("private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", None, "127.0.0.1:8000"),
    ("privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", None, "127.0.0.1:8000"),
    ("private/moonbase", "example.com/private/moonbase", "example.com/private/moonbase", None, "example.com"),
    ("privatebase", "example.com/privatebase", "example.com/privatebase", None, "example.com"),
    ("private/moonbase", "example.com:8000/private/moonbase", "example.com:8000/private/moonbase", None, "example.com:8000"),
    ("privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee", None, "example.com:8000"),
    ("library/ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "index.docker.io/library/ubuntu-12.04-base", "docker.io"),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", None, "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", None, "docker.io"),
    ("bar", "Foo/bar", "Foo/bar", None, "Foo"),
    ("bar", "FOO/bar", "FOO/bar", None, "FOO"),
]

REPOSITORY_INFO_INPUTS = [
    pytest.param(spelling, path, familiar, full, domain, id=spelling)
    for path, familiar, full, ambiguous, domain in REPOSITORY_INFO
    for spelling in dict.fromkeys(s for s in (familiar, full, ambiguous) if s)
]


@pytest.mark.parametrize(("value", "path", "familiar", "full", "domain"), REPOSITORY_INFO_INPUTS)
def test_repository_info(value: str, path: str, familiar: str, full: str, domain: str) -> None:
    ref = parse_normalized(value)
    assert ref.familiar_name == familiar
    assert ref.familiar == familiar
    assert str(ref) == ref.name == full
    assert ref.domain == domain
    assert ref.path == path


# --- normalize_test.go: TestParseReferenceWithTagAndDigest, TestInvalidReferenceComponents

def test_tag_and_digest_together() -> None:
    short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    ref = parse_normalized(short)
    assert str(ref) == "docker.io/library/" + short
    assert ref.tag == "latest"
    assert ref.digest == Digest.parse(short.partition("@")[2])
    assert ref.familiar == short


def test_invalid_components() -> None:
    with pytest.raises(InvalidReferenceError):
        parse_normalized("-foo")
    ref = parse_normalized("busybox")
    with pytest.raises(InvalidReferenceError):
        ref.with_tag("-foo")


# --- normalize_test.go: TestParseAnyReference (named cases) ------------------

@pytest.mark.parametrize(
    ("value", "equivalent"),
    [
        ("redis", "docker.io/library/redis"),
        ("redis:latest", "docker.io/library/redis:latest"),
        ("docker.io/library/redis:latest", "docker.io/library/redis:latest"),
        (f"redis@{SHA_REDIS}", f"docker.io/library/redis@{SHA_REDIS}"),
        (f"docker.io/library/redis@{SHA_REDIS}", f"docker.io/library/redis@{SHA_REDIS}"),
        ("dmcgowan/myapp", "docker.io/dmcgowan/myapp"),
        ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
        ("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest"),
        (f"dmcgowan/myapp@{SHA_REDIS}", f"docker.io/dmcgowan/myapp@{SHA_REDIS}"),
        (f"docker.io/dmcgowan/myapp@{SHA_REDIS}", f"docker.io/dmcgowan/myapp@{SHA_REDIS}"),
        # 63 hex characters is a name, not an ID.
        (SHA_REDIS[7:-1], f"docker.io/library/{SHA_REDIS[7:-1]}"),
        ("dbcc1", "docker.io/library/dbcc1"),
        # "sha256:<hex>" parses as a name with a tag when normalised.
        (SHA_REDIS, f"docker.io/library/{SHA_REDIS}"),
    ],
)
def test_normalized_equivalent(value: str, equivalent: str) -> None:
    ref = parse_normalized(value)
    assert str(ref) == equivalent
    assert ref == parse(equivalent)


# --- normalize_test.go: TestNormalizedSplitHostname --------------------------

@pytest.mark.parametrize(
    ("value", "domain", "path"),
    [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "docker.io", "test_com/foo"),
        ("docker/migrator", "docker.io", "docker/migrator"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("test-com:8080/foo", "test-com:8080", "foo"),
        ("foo", "docker.io", "library/foo"),
        ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
        ("docker.io/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ("index.docker.io/foo", "docker.io", "library/foo"),
        ("localhost:5000/foo", "localhost:5000", "foo"),
        ("[::1]:5000/foo", "[::1]:5000", "foo"),
        # A bad host with a '.' falls back to a domain-less path, as in Go.
        ("a_b.c/x", "", "a_b.c/x"),
    ],
)
def test_normalized_split_hostname(value: str, domain: str, path: str) -> None:
    ref = parse_normalized(value)
    assert (ref.domain, ref.path) == (domain, path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ubuntu", ("docker.io", "library/ubuntu")),
        ("ubuntu:20.04", ("docker.io", "library/ubuntu:20.04")),
        ("localhost:5000", ("docker.io", "library/localhost:5000")),  # one part is never a host
        ("localhost/foo", ("localhost", "foo")),
        ("index.docker.io/ubuntu", ("docker.io", "library/ubuntu")),
        ("index.docker.io/foo/bar", ("docker.io", "foo/bar")),
        ("docker.io/foo/bar:tag", ("docker.io", "foo/bar:tag")),
        ("foo/bar", ("docker.io", "foo/bar")),
        ("Foo/bar", ("Foo", "bar")),
        ("example.com/ubuntu", ("example.com", "ubuntu")),
        ("host:5000/a/b", ("host:5000", "a/b")),
    ],
)
def test_split_docker_domain(value: str, expected: tuple[str, str]) -> None:
    assert split_docker_domain(value) == expected


# --- normalize_test.go: TestParseDockerRef -----------------------------------

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:latest", "docker.io/library/busybox:latest"),
        (f"busybox@{SHA_BUSYBOX}", f"docker.io/library/busybox@{SHA_BUSYBOX}"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
        ("library/busybox:latest", "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
        ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
        (f"gcr.io/library/busybox:latest@{SHA_BUSYBOX}", f"gcr.io/library/busybox@{SHA_BUSYBOX}"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ],
)
def test_parse_docker_ref(value: str, expected: str) -> None:
    ref = parse_docker_ref(value)
    assert str(ref) == expected
    assert parse(expected) == ref


def test_parse_docker_ref_rejects_what_normalizing_rejects() -> None:
    with pytest.raises(InvalidReferenceError, match="^invalid reference format: repository name must be lowercase$"):
        parse_docker_ref("Busybox")


# --- Reference value behaviour ------------------------------------------------

def test_reference_accessors() -> None:
    digest = Digest.parse(SHA_BUSYBOX)
    ref = parse_normalized(f"busybox:latest@{SHA_BUSYBOX}")
    assert ref == Reference("docker.io", "library/busybox", "latest", digest)
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar_name == "busybox"
    assert ref.familiar == f"busybox:latest@{SHA_BUSYBOX}"
    assert str(ref.name_only()) == "docker.io/library/busybox"
    assert ref.name_only().with_default_tag().tag == "latest"
    # A digest alone already pins the image: no default tag.
    assert ref.name_only().with_digest(digest).with_default_tag().tag is None
    assert ref.with_default_tag() is ref
    assert hash(ref) == hash(parse(str(ref)))


def test_reference_is_frozen() -> None:
    ref = parse_normalized("busybox")
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "familiar"),
    [
        ("docker.io/foo/bar", "foo/bar"),
        ("docker.io/library/foo/bar:1", "library/foo/bar:1"),
        ("localhost:5000/library/foo", "localhost:5000/library/foo"),
        ("quay.io/library/foo:tag", "quay.io/library/foo:tag"),
        (f"ubuntu@{SHA_F}", f"ubuntu@{SHA_F}"),
    ],
)
def test_familiar(value: str, familiar: str) -> None:
    assert parse_normalized(value).familiar == familiar


# --- validate_tag, is_image_id, error types -----------------------------------

@pytest.mark.parametrize("tag", ["latest", "1.0", "TAG5", "_x", "a" * 128, "v1-rc.2_b"])
def test_validate_tag_valid(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-foo", ".foo", "a" * 129, "a:b", "a/b", "a@b", "tag\n", "täg"])
def test_validate_tag_invalid(tag: str) -> None:
    with pytest.raises(InvalidReferenceError):
        validate_tag(tag)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HEX_ID, True),
        (f"sha256:{HEX_ID}", True),
        (HEX_ID[:-1], False),
        (HEX_ID + "a", False),
        (HEX_ID.upper(), False),
        (f"sha512:{HEX_ID}", False),
        (f"sha256:{HEX_ID}\n", False),
        ("busybox", False),
        ("", False),
    ],
)
def test_is_image_id(value: str, expected: bool) -> None:
    assert is_image_id(value) is expected


def test_errors_are_invalid_argument_errors() -> None:
    # The CLI maps InvalidArgumentError to Docker's exit code for bad input.
    with pytest.raises(InvalidArgumentError):
        parse_normalized("UPPER")
    with pytest.raises(InvalidReferenceError) as info:
        parse_normalized(f"busybox@md5:{'f' * 32}")
    assert str(info.value).startswith(DIGEST_ERR)


def test_pathological_input_is_fast() -> None:
    # Backtracking must stay bounded on long near-miss input.
    for value in ("a" * 20000 + "!", "a-" * 10000 + "!", "aa." * 5000 + "!", "a/" * 5000 + "!"):
        with pytest.raises(InvalidReferenceError):
            parse(value)


@pytest.mark.parametrize("name", [
    "busybox", "busybox:1", "library/busybox:latest", "user/app:v1.2", "localhost:5000/a/b:tag", "localhost:5000/a/b",
    "127.0.0.1:5000/x", "[::1]:5000/x:y", f"busybox@sha256:{'a' * 64}", f"localhost:5000/a@sha256:{'b' * 64}",
    "registry.example.com/deep/path/name:TAG_1",
])  # fmt: skip
def test_a_stored_name_splits_as_it_parses(name: str) -> None:
    stored = str(parse_docker_ref(name))
    assert from_stored(stored) == parse_docker_ref(stored)
