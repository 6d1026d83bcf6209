"""The S3 client's signing and addressing, and the S3 settings, without a gateway."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgumentError
from dockyard.registry.server import config
from dockyard.registry.server.backend import s3_config
from dockyard.registry.server.s3client import S3Client, S3Config, canonical_request, is_idempotent

AWS_EXAMPLE = S3Config("https://s3.amazonaws.com", "examplebucket", "AKIAIOSFODNN7EXAMPLE",
                       "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", path_style=False)


def test_presigned_url_matches_the_aws_documented_example() -> None:
    """AWS's SigV4 query-string example ("Authenticating Requests: Using Query Parameters")."""
    now = calendar.timegm(time.strptime("20130524T000000Z", "%Y%m%dT%H%M%SZ"))
    url = S3Client(AWS_EXAMPLE).presign_get("test.txt", expires=86400, now=now)
    assert url.startswith("https://examplebucket.s3.amazonaws.com/test.txt?")
    assert "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" in url
    assert "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404" in url


def test_path_style_and_prefix_shape_the_url() -> None:
    client = S3Client(S3Config("http://127.0.0.1:7480", "reg", "a", "s", prefix="/prod/"))
    url = client.presign_get("blobs/sha256/ab/abc/data")
    assert url.startswith("http://127.0.0.1:7480/reg/prod/blobs/sha256/ab/abc/data?")


def test_settings_from_file_and_checks(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("storage:\n  s3:\n    endpoint: http://rgw:7480\n    bucket: reg\n    accesskey: a\n"
                    "    secretkey: s\n    addressing: virtual\n    prefix: p\n    redirect: true\n")
    loaded = config.load(path, tmp_path).check()
    s3 = s3_config(loaded)
    assert (s3.endpoint, s3.bucket, s3.path_style, s3.prefix, s3.redirect) == ("http://rgw:7480", "reg", False, "p", True)
    with pytest.raises(config.ConfigError, match="addressing"):
        loaded.with_overrides(s3_addressing="sideways").check()
    with pytest.raises(InvalidArgumentError, match="secret key"):
        S3Config("http://x", "b", "a", "").check()
    with pytest.raises(InvalidArgumentError, match="part size"):
        S3Config("http://x", "b", "a", "s", part_size=1 << 20).check()


# credentials ------------------------------------------------------------------------

RGW = "http://127.0.0.1:7480"


def _credentials_file(path: Path, **profiles: tuple[str, str, str]) -> Path:
    path.write_text("".join(f"[{name}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
                            + (f"aws_session_token = {token}\n" if token else "") + "\n"
                            for name, (key, secret, token) in profiles.items()))
    return path


def test_credentials_chain_order(tmp_path: Path) -> None:
    """Configuration, then environment, then the shared credentials file; each source brings its own token."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    _credentials_file(home / ".aws" / "credentials", default=("file-key", "file-secret", "file-token"), other=("o-key", "o-secret", ""))
    env = {"AWS_ACCESS_KEY_ID": "env-key", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "env-token"}
    bare = config.ServerConfig(root=tmp_path, s3_endpoint=RGW, s3_bucket="b")
    configured = config.ServerConfig(root=tmp_path, s3_endpoint=RGW, s3_bucket="b", s3_access_key="c-key",
                                     s3_secret_key="c-secret", s3_session_token="c-token")

    def chosen(cfg: config.ServerConfig, environ: dict[str, str]) -> tuple[str, str, str]:
        s3 = s3_config(cfg, environ, home)
        return s3.access_key, s3.secret_key, s3.session_token

    assert chosen(configured, env) == ("c-key", "c-secret", "c-token")
    assert chosen(bare, env) == ("env-key", "env-secret", "env-token")
    assert chosen(bare, {**env, "AWS_SESSION_TOKEN": ""}) == ("env-key", "env-secret", "")  # never the file's token
    assert chosen(bare, {}) == ("file-key", "file-secret", "file-token")
    assert chosen(bare, {"AWS_PROFILE": "other"}) == ("o-key", "o-secret", "")
    elsewhere = _credentials_file(tmp_path / "creds", default=("x-key", "x-secret", ""))
    assert chosen(bare, {"AWS_SHARED_CREDENTIALS_FILE": str(elsewhere)}) == ("x-key", "x-secret", "")
    with pytest.raises(InvalidArgumentError, match="profile 'missing' not found"):
        chosen(bare, {"AWS_PROFILE": "missing"})
    with pytest.raises(InvalidArgumentError, match="needs an access key"):
        s3_config(bare, {}, tmp_path / "nobody").check()
    with pytest.raises(InvalidArgumentError, match="both accesskey and secretkey"):
        s3_config(config.ServerConfig(root=tmp_path, s3_endpoint=RGW, s3_bucket="b", s3_access_key="k"), {}, home)


def test_session_token_from_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(f"storage:\n  s3:\n    endpoint: {RGW}\n    bucket: reg\n    accesskey: a\n    secretkey: s\n    sessiontoken: tok\n")
    assert s3_config(config.load(path, tmp_path), {}, tmp_path).session_token == "tok"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def test_session_token_is_a_signed_header() -> None:
    """The token travels as X-Amz-Security-Token, inside the canonical request the signature covers."""
    client = S3Client(S3Config(RGW, "reg", "AKID", "SECRET", session_token="TOKEN/with+chars"))
    now = calendar.timegm(time.strptime("20240102T030405Z", "%Y%m%dT%H%M%SZ"))
    sent = client.sign("GET", "/reg/key", {}, {}, False, now=now)
    assert sent["x-amz-security-token"] == "TOKEN/with+chars"
    auth = sent["Authorization"]
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token," in auth
    signed = {k: sent[k] for k in ("host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token")}
    canonical = canonical_request("GET", "/reg/key", {}, signed, sent["x-amz-content-sha256"])
    assert "\nx-amz-security-token:TOKEN/with+chars\n" in canonical
    # the signature, recomputed here from the canonical request (SigV4's documented steps)
    scope = "20240102/us-east-1/s3/aws4_request"
    to_sign = "\n".join(("AWS4-HMAC-SHA256", "20240102T030405Z", scope, hashlib.sha256(canonical.encode()).hexdigest()))
    key = b"AWS4SECRET"
    for part in ("20240102", "us-east-1", "s3", "aws4_request"):
        key = _hmac(key, part)
    assert auth.endswith("Signature=" + hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest())
    without = S3Client(S3Config(RGW, "reg", "AKID", "SECRET")).sign("GET", "/reg/key", {}, {}, False, now=now)
    assert "x-amz-security-token" not in without and "security-token" not in without["Authorization"]
    url = client.presign_get("key", now=now)
    assert "X-Amz-Security-Token=TOKEN%2Fwith%2Bchars" in url


def test_which_calls_may_be_repeated() -> None:
    assert all(is_idempotent(m, {}) for m in ("GET", "HEAD", "DELETE", "PUT"))
    assert not is_idempotent("POST", {})
    assert not is_idempotent("PUT", {"If-None-Match": "*"}) and not is_idempotent("PUT", {"if-match": '"e"'})
