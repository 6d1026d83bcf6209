"""The S3 client's signing and addressing, and the S3 settings, without a gateway."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgumentError
from dockyard.registry.server import config
from dockyard.registry.server.backend import s3_config
from dockyard.registry.server.s3client import S3Client, S3Config

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
