"""Which storage a server or a GC run uses: the filesystem under ``root``, or an S3 bucket."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.registry.server import s3creds
from dockyard.registry.server.config import ServerConfig
from dockyard.registry.server.storage import CheckedDriver, open_filesystem

if TYPE_CHECKING:  # the S3 modules load only when S3 is configured
    from dockyard.registry.server.s3client import S3Config


def s3_config(config: ServerConfig, env: Mapping[str, str] | None = None, home: Path | None = None) -> S3Config:
    """The S3 settings; credentials from the AWS chain (``s3creds``): configuration, environment, credentials file."""
    from dockyard.registry.server.s3client import S3Config

    env = os.environ if env is None else env
    found = s3creds.resolve(config.s3_access_key, config.s3_secret_key, config.s3_session_token, env, home or Path.home())
    return S3Config(
        endpoint=config.s3_endpoint or "",
        bucket=config.s3_bucket or "",
        access_key=found.access_key if found else "",
        secret_key=found.secret_key if found else "",
        session_token=found.session_token if found else "",
        region=config.s3_region or env.get("AWS_REGION", "us-east-1"),
        path_style=config.s3_addressing == "path",
        prefix=config.s3_prefix,
        redirect=config.s3_redirect,
        part_size=config.s3_part_size,
    ).check()


def open_storage(config: ServerConfig, create: bool = True) -> CheckedDriver:
    """The configured storage, checked; ``create`` makes the S3 bucket if it is missing."""
    if not config.s3_endpoint:
        return open_filesystem(config.root)
    from dockyard.registry.server.storage_s3 import S3Driver

    driver = S3Driver(s3_config(config), lock_ttl=config.s3_lock_ttl)
    if create:
        driver.client.ensure_bucket()
    return CheckedDriver(driver)
