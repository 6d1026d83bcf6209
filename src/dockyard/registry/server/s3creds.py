"""Where the S3 backend's credentials come from: the usual AWS chain, first complete source wins.

1. the configuration (``accesskey``, ``secretkey``, ``sessiontoken``);
2. the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``);
3. the shared credentials file (``AWS_SHARED_CREDENTIALS_FILE``, else ``~/.aws/credentials``),
   profile ``AWS_PROFILE`` (else ``default``): ``aws_access_key_id``,
   ``aws_secret_access_key``, ``aws_session_token``.

A source supplies the key pair and its session token together, as the AWS
SDKs do: a token never pairs with another source's keys. Pure: the
environment and home directory are arguments, so tests need no patching.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str = ""
    source: str = ""  # where they were found, for error messages


def resolve(
    access_key: str | None, secret_key: str | None, session_token: str | None, env: Mapping[str, str], home: Path
) -> Credentials | None:
    """The first complete set of the chain; None if no source has one."""
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise InvalidArgumentError("the S3 configuration needs both accesskey and secretkey")
        return Credentials(access_key, secret_key, session_token or "", "configuration")
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN", ""), "environment")
    return _from_file(env, home)


def _from_file(env: Mapping[str, str], home: Path) -> Credentials | None:
    path = Path(env["AWS_SHARED_CREDENTIALS_FILE"]).expanduser() if env.get("AWS_SHARED_CREDENTIALS_FILE") else home / ".aws" / "credentials"
    profile = env.get("AWS_PROFILE") or "default"
    parser = configparser.ConfigParser(interpolation=None)
    try:
        if not parser.read(path):
            if env.get("AWS_PROFILE"):
                raise InvalidArgumentError(f"AWS profile {profile!r} not found: no credentials file {path}")
            return None
    except configparser.Error as exc:
        raise InvalidArgumentError(f"invalid AWS credentials file {path}: {exc}") from exc
    if not parser.has_section(profile):
        if env.get("AWS_PROFILE"):
            raise InvalidArgumentError(f"AWS profile {profile!r} not found in {path}")
        return None
    section = parser[profile]
    key, secret = section.get("aws_access_key_id", ""), section.get("aws_secret_access_key", "")
    if not key or not secret:
        raise InvalidArgumentError(f"AWS profile {profile!r} in {path} lacks aws_access_key_id or aws_secret_access_key")
    return Credentials(key, secret, section.get("aws_session_token", ""), f"{path} [{profile}]")
