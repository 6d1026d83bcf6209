"""``dockyard registry serve`` and ``dockyard registry gc``: parsing and printing only; the work is ``engine.registry_server``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.cli.context import Context, UsageError

if TYPE_CHECKING:  # the server's modules load only when a registry command runs
    from dockyard.engine.registry_server import ServerConfig


def register(commands: argparse._SubParsersAction) -> None:
    registry = commands.add_parser("registry", help="Run a registry server", prog="dockyard registry")
    sub = registry.add_subparsers(dest="registry_command", metavar="COMMAND", parser_class=type(registry))
    _serve_args(sub.add_parser("serve", help="Serve a registry (OCI Distribution API)", prog="dockyard registry serve"))
    _gc_args(sub.add_parser("gc", help="Delete blobs no manifest uses", prog="dockyard registry gc"))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", dest="registry_root", type=Path, help="storage directory (default: <dockyard root>/registry)")
    p.add_argument("--config", type=Path, help="YAML configuration file; flags override it")
    s3 = p.add_argument_group("S3 storage (instead of --root)")
    s3.add_argument("--s3-endpoint", help="S3 endpoint URL, http(s)://HOST[:PORT]")
    s3.add_argument("--s3-bucket", help="bucket (created if missing)")
    s3.add_argument("--s3-region", help="region (default us-east-1)")
    s3.add_argument("--s3-access-key", help="access key (default: $AWS_ACCESS_KEY_ID)")
    s3.add_argument("--s3-secret-key", help="secret key (default: $AWS_SECRET_ACCESS_KEY)")
    s3.add_argument("--s3-addressing", choices=["path", "virtual"], help="path-style or virtual-host addressing (default path)")
    s3.add_argument("--s3-prefix", help="key prefix for everything the registry stores")
    s3.add_argument("--s3-redirect", action="store_true", default=None, help="answer blob GETs with a 307 to a presigned URL")


def _serve_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--addr", help="address to listen on, HOST:PORT (port 0 picks a free one; default 127.0.0.1:5000)")
    p.add_argument("--workers", type=int, help="worker processes sharing the socket and the storage")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--htpasswd", type=Path, help="Basic auth from an htpasswd file (bcrypt entries)")
    auth.add_argument("--token-acl", type=Path, help="token auth with the built-in token endpoint and this ACL file")
    p.add_argument("--token-realm", help="token endpoint URL announced in challenges (default: this server's /auth/token)")
    p.add_argument("--token-service", help="service name in tokens and challenges")
    p.add_argument("--tls-cert", type=Path, help="TLS certificate (PEM)")
    p.add_argument("--tls-key", type=Path, help="TLS private key (PEM)")
    p.add_argument("--proxy-remote", help="serve as a pull-through cache of this registry URL")
    p.add_argument("--proxy-username", help="upstream user name")
    p.add_argument("--proxy-password", help="upstream password")
    p.add_argument("--proxy-ttl", type=float, help="seconds before a cached tag is checked upstream again")
    p.add_argument("--max-blob-size", type=int, help="largest blob accepted, in bytes")
    p.set_defaults(handler=serve_cmd)


def _gc_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    p.add_argument("--delete-untagged", action="store_true", help="also delete manifests no tag reaches")
    p.add_argument("--grace", type=float, help="seconds a blob is kept after its last use (default 3600)")
    p.add_argument("--upload-ttl", type=float, help="seconds an idle upload is kept before it is aborted (default 604800)")
    p.set_defaults(handler=gc_cmd)


def _config(ctx: Context, args: argparse.Namespace, **overrides: object) -> ServerConfig:
    from dockyard.engine.registry_server import load_config

    root = args.registry_root or ctx.root / "registry"
    return load_config(
        args.config, root, explicit_root=bool(args.registry_root),
        s3_endpoint=args.s3_endpoint, s3_bucket=args.s3_bucket, s3_region=args.s3_region,
        s3_access_key=args.s3_access_key, s3_secret_key=args.s3_secret_key, s3_addressing=args.s3_addressing,
        s3_prefix=args.s3_prefix, s3_redirect=args.s3_redirect, **overrides,
    )  # fmt: skip


def serve_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine.registry_server import probe_storage, serve

    conf = _config(
        ctx, args, addr=args.addr, workers=args.workers, htpasswd=args.htpasswd, token_acl=args.token_acl,
        token_realm=args.token_realm, token_service=args.token_service, tls_cert=args.tls_cert, tls_key=args.tls_key,
        proxy_remote=args.proxy_remote, proxy_username=args.proxy_username, proxy_password=args.proxy_password,
        proxy_ttl=args.proxy_ttl, max_blob_size=args.max_blob_size,
    )  # fmt: skip
    if conf.htpasswd and conf.token_acl:
        raise UsageError("--htpasswd and --token-acl are mutually exclusive\nSee 'dockyard registry serve --help'.")
    try:
        probe_storage(conf)
    except OSError as exc:
        print(f"Error: storage: {exc}", file=sys.stderr)
        return 1
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    try:
        serve(conf, on_ready=lambda url: print(f"dockyard registry listening on {url}", flush=True))
    except OSError as exc:
        print(f"Error: listen tcp {conf.addr}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def gc_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine.registry_server import GcOptions, collect_garbage
    from dockyard.errors import NotFoundError

    conf = _config(ctx, args)
    try:
        report = collect_garbage(conf, GcOptions(args.dry_run, args.delete_untagged, args.grace, args.upload_ttl))
    except NotFoundError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    grace = args.grace if args.grace is not None else conf.gc_grace
    verb = "would delete" if args.dry_run else "deleted"
    for node in report.deleted_manifests:
        print(f"{verb} manifest {node.repository}@{node.digest}")
    for digest, size in report.deleted_blobs:
        print(f"{verb} blob {digest} ({size} bytes)")
    for upload in report.deleted_uploads:
        print(f"{verb} upload {upload}")
    print(
        f"{report.marked_blobs} blobs marked, {len(report.deleted_blobs)} blobs and "
        f"{len(report.deleted_manifests)} manifests {verb}, {report.spared_young} spared (younger than {grace:g}s), "
        f"{report.freed_bytes} bytes {'reclaimable' if args.dry_run else 'freed'}"
    )
    return 0
