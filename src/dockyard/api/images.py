"""Image routes: ``/images/*``, ``/commit``, ``/distribution/{name}/json``, over ``engine.image_service``
and ``engine.registry``; the documents come from ``engine.image_json`` (the CLI prints the same ones).

Pull, push, load and import answer with Docker's JSON progress stream (``{"status", "progressDetail",
"id"}`` lines, ``errorDetail`` at a failure); save streams the tar. A client that goes away mid-pull
does not stop the pull: it finishes, as dockerd's does, and the image is there for the next ask.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from typing import TYPE_CHECKING

from dockyard.api.http import HIJACKED, HTTPError, Request, Response, StreamWriter, empty, json_response
from dockyard.api.router import Route
from dockyard.errors import DockyardError, ImageNotFoundError, InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine.registry import Credentials, Event
    from dockyard.image.store import Removal

SAVE_CHUNK = 1 << 20


# reads -----------------------------------------------------------------------------------


def for_version(document: dict[str, object], version: tuple[int, int]) -> dict[str, object]:
    """What moby leaves out of an image document for newer clients: ``VirtualSize`` from API 1.44,
    the deprecated ``Container``/``ContainerConfig`` from 1.45 (the CLI prints the 1.41 document)."""
    dropped = (("VirtualSize",) if version >= (1, 44) else ()) + (("Container", "ContainerConfig") if version >= (1, 45) else ())
    return {k: v for k, v in document.items() if k not in dropped}


def list_images(request: Request) -> Response:
    """``GET /images/json``: newest first; intermediate images (untagged parents) only with ``all``."""
    from dockyard.engine.image_json import image_summary

    filters = request.filters()
    legacy = request.arg("filter")  # API < 1.41's reference filter
    if legacy:
        filters.setdefault("reference", []).append(legacy)
    engine = request.engine
    listing = engine.image_service.list(filters)
    show_all = request.flag("all")
    out = []
    for summary in listing.images:
        if not show_all and not summary.refs and summary.row.id in listing.parents:
            continue
        labels = engine.images.labels(summary.row.id)
        out.append(for_version(image_summary(summary, labels), request.version))
    out.sort(key=lambda doc: -int(doc["Created"]))
    return json_response(out)


def inspect_image(request: Request) -> Response:
    from dockyard.engine.image_json import inspect_image as document

    details = request.engine.image_service.inspect(request.params["name"])
    return json_response(for_version(document(details), request.version))


def image_history(request: Request) -> Response:
    from dockyard.engine.image_json import history_entries

    history = request.engine.image_service.history(request.params["name"])
    return json_response(history_entries(history.image, history.layer_sizes))


# names ---------------------------------------------------------------------------------


def tag_image(request: Request) -> Response:
    repo = request.arg("repo") or ""
    tag = request.arg("tag") or ""
    if not repo:
        raise InvalidArgumentError("repository name must have at least one component")
    target = f"{repo}:{tag}" if tag else repo
    if "@" in target:
        raise InvalidArgumentError("refusing to create a tag with a digest reference")
    request.engine.image_service.tag(request.params["name"], target)
    return empty(201)


def removal_document(removal: Removal) -> list[dict[str, str]]:
    """Docker's ImageDeleteResponseItem list: Untagged entries, then Deleted ones."""
    return [{"Untagged": name} for name in removal.untagged] + [{"Deleted": name} for name in removal.deleted]


def remove_image(request: Request) -> Response:
    removal = request.engine.image_service.remove(
        request.params["name"], force=request.flag("force"), prune=not request.flag("noprune")
    )
    return json_response(removal_document(removal))


def prune_images(request: Request) -> Response:
    """``dangling=false`` prunes every unused image (``image prune -a``)."""
    filters = request.filters()
    dangling = filters.pop("dangling", ["true"])
    prune_all = dangling[-1].lower() in ("false", "0")
    report = request.engine.image_service.prune(filters, all=prune_all)
    deleted = [item for removal in report.removals for item in removal_document(removal)]
    return json_response({"ImagesDeleted": deleted or None, "SpaceReclaimed": report.reclaimed})


# registry --------------------------------------------------------------------------------


def _header_json(request: Request, name: str) -> object | None:
    """A header holding base64url JSON (``X-Registry-Auth``, ``X-Registry-Config``)."""
    header = request.headers.get(name)
    if not header:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidArgumentError(f"invalid {name} header: not base64 JSON") from None


def _credentials(data: object) -> Credentials | None:
    """An AuthConfig object as a login; None when it holds nothing (``{}``: use the stored logins)."""
    from dockyard.engine.registry import Credentials

    if not isinstance(data, dict):
        return None
    creds = Credentials(str(data.get("username") or ""), str(data.get("password") or ""),
                        str(data.get("identitytoken") or ""), str(data.get("registrytoken") or ""))  # fmt: skip
    return creds if any((creds.username, creds.password, creds.identity_token, creds.registry_token)) else None


def registry_auth(request: Request) -> Credentials | None:
    """``X-Registry-Auth``: the login for the registry of a pull or push."""
    return _credentials(_header_json(request, "X-Registry-Auth"))


def registry_config(request: Request) -> dict[str, Credentials]:
    """``X-Registry-Config``: the client's logins by registry (config.json keys), for a build's base images."""
    from dockyard.engine.registry import login_key

    data = _header_json(request, "X-Registry-Config")
    if not isinstance(data, dict):
        return {}
    found = {login_key(str(server)): _credentials(config) for server, config in data.items()}
    return {key: creds for key, creds in found.items() if creds is not None}


class ProgressStream:
    """Registry progress events as Docker's JSONMessage lines; called from the download threads.

    The response starts with the first event, so an error before it (no such repository, denied) is
    an ordinary error response with its status. When the client has gone, the operation goes on
    without it (its writes are dropped)."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.stream: StreamWriter | None = None
        self.lock = threading.Lock()
        self.gone = False

    def __call__(self, event: Event) -> None:
        message: dict[str, object] = {"status": event.status}
        if event.id:
            detail = {"current": event.current, "total": event.total} if event.total else {}
            message.update(progressDetail=detail, id=event.id)
        self.send(message)

    def send(self, message: dict[str, object]) -> None:
        with self.lock:
            if self.gone:
                return
            try:
                if self.stream is None:
                    self.stream = self.request.stream()
                self.stream.json_line(message)
            except OSError:
                self.gone = True


def create_image(request: Request) -> Response:
    """``POST /images/create``: pull ``fromImage`` (with ``tag``), or import ``fromSrc``."""
    if request.arg("fromImage"):
        return _pull(request)
    if request.arg("fromSrc"):
        return _import(request)
    raise InvalidArgumentError("fromImage or fromSrc is required")


def _pull_reference(request: Request) -> str:
    name = request.arg("fromImage") or ""
    tag = request.arg("tag") or ""
    if not tag:
        return name
    return f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"


def _pull(request: Request) -> Response:
    from dockyard.engine.registry import PullRequest, parse_reference

    ref = parse_reference(_pull_reference(request))
    every_tag = ref.tag is None and ref.digest is None  # no tag anywhere: moby pulls the whole repository
    pull = PullRequest(ref, request.arg("platform") or "", every_tag, auth=registry_auth(request))
    pull.check()
    engine = request.engine
    progress = ProgressStream(request)
    report = engine.registry.pull(pull, progress)
    progress.send({"status": report.status})
    return HIJACKED


def _import(request: Request) -> Response:
    from dockyard.engine.image_writes import ImportOptions

    source = request.arg("fromSrc") or ""
    if source != "-" and not source.startswith(("http://", "https://")):
        raise InvalidArgumentError("fromSrc must be - (the request body) or an http(s) URL")
    repo = request.arg("repo") or ""
    tag = request.arg("tag") or ""
    options = ImportOptions(source, (f"{repo}:{tag}" if tag else repo) or None, _changes(request),
                            request.arg("message") or "")  # fmt: skip
    image_id = request.engine.image_service.import_image(options, request.body_stream())
    stream = request.stream()
    stream.json_line({"status": str(image_id)})
    return HIJACKED


def push_image(request: Request) -> Response:
    from dockyard.engine.registry import PushRequest, parse_reference

    name = request.params["name"]
    tag = request.arg("tag") or ""
    ref = parse_reference(f"{name}:{tag}" if tag else name)
    push = PushRequest(ref, all_tags=not tag and ref.tag is None, auth=registry_auth(request))
    push.check()
    progress = ProgressStream(request)
    report = request.engine.registry.push(push, progress)
    for result in report.results:
        aux = {"Tag": result.reference.tag or "", "Digest": str(result.digest), "Size": result.size}
        progress.send({"progressDetail": {}, "aux": aux})
    return HIJACKED


def search_images(request: Request) -> Response:
    term = request.arg("term") or ""
    limit = request.int_arg("limit", 25) or 25
    filters = request.filters()
    results = request.engine.registry.search(term, limit)
    stars = int(filters.get("stars", ["0"])[-1] or 0)
    official = filters.get("is-official")
    automated = filters.get("is-automated")
    out = []
    for r in results:
        if r.star_count < stars:
            continue
        if official and r.is_official != (official[-1].lower() in ("true", "1")):
            continue
        if automated and r.is_automated != (automated[-1].lower() in ("true", "1")):
            continue
        out.append({"star_count": r.star_count, "is_official": r.is_official, "name": r.name,
                    "is_automated": r.is_automated, "description": r.description})  # fmt: skip
    return json_response(out)


def distribution(request: Request) -> Response:
    """The registry's descriptor of a name and the platforms it offers, without pulling."""
    from dockyard.engine.registry import NoSuchManifestError, parse_reference

    ref = parse_reference(request.params["name"])
    try:
        remote = request.engine.registry.manifest(ref, verbose=True)
    except NoSuchManifestError as exc:
        raise HTTPError(404, f"{ref.with_default_tag().familiar}: not found: {exc}") from exc
    manifests = remote.entries if remote.is_index else (remote,)
    platforms = [dict(m.platform) for m in manifests if m.platform]
    descriptor = {"mediaType": remote.media_type, "digest": str(remote.digest), "size": len(remote.raw)}
    return json_response({"Descriptor": descriptor, "Platforms": platforms})


# archives ----------------------------------------------------------------------------------


class _ChunkedOut:
    """What ``save`` writes into, sent in large chunks."""

    def __init__(self, stream: StreamWriter) -> None:
        self.stream = stream
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= SAVE_CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buffer:
            self.stream.write(bytes(self.buffer))
            self.buffer.clear()


def save_images(request: Request) -> Response:
    """``GET /images/get?names=...`` and ``GET /images/{name}/get``: a docker-archive of the images."""
    from dockyard.engine.images import missing_image_error

    names = [request.params["name"]] if "name" in request.params else request.query.get("names", [])
    if not names:
        raise InvalidArgumentError("no image names given")
    service = request.engine.image_service
    for name in names:  # a missing name fails before the tar starts
        try:
            service.get(name)
        except ImageNotFoundError as exc:
            raise missing_image_error(exc) from None
    out = _ChunkedOut(request.stream(content_type="application/x-tar"))
    service.save(names, out)  # type: ignore[arg-type]
    out.flush()
    return HIJACKED


def load_images(request: Request) -> Response:
    """``POST /images/load``: a docker-archive or OCI layout in the body; ``Loaded image: ...`` lines.
    A body that is no archive is a 200 whose stream carries the error, as moby answers (docker-py raises
    ImageLoadError from it)."""
    try:
        result = request.engine.image_service.load(None, request.body_stream())
    except DockyardError as exc:
        request.stream().json_line({"errorDetail": {"message": str(exc)}, "error": str(exc)})
        return HIJACKED
    stream = request.stream()
    for line in [*result.renamed, *result.loaded]:
        stream.json_line({"stream": line + "\n"})
    return HIJACKED


def commit(request: Request) -> Response:
    from dockyard.engine.container_options import CommitOptions
    from dockyard.engine.registry import parse_reference

    repo = request.arg("repo") or ""
    tag = request.arg("tag") or ""
    ref = parse_reference(f"{repo}:{tag}" if tag else repo) if repo else None
    if ref is not None and ref.digest is not None:
        raise InvalidArgumentError("refusing to create a tag with a digest reference")
    service = request.engine.container_service
    container = service.get(request.arg("container") or "")
    body = request.json()  # the config to commit with; empty (the docker CLI) or null: the container's
    if body is not None and not isinstance(body, dict):
        raise InvalidArgumentError("invalid JSON: the commit's config must be an object")
    options = CommitOptions(message=request.arg("comment") or "", author=request.arg("author") or "",
                            changes=_changes(request), pause=request.flag("pause", True), tag=ref,
                            config=body or None)  # fmt: skip
    return json_response({"Id": str(service.commit(container, options))}, 201)


def _changes(request: Request) -> list[str]:
    """``changes``: repeated, or one value of newline-separated Dockerfile instructions (docker-py)."""
    return [line for value in request.query.get("changes", []) for line in value.splitlines() if line.strip()]


ROUTES: tuple[Route, ...] = (
    Route("GET", "/images/json", list_images),
    Route("POST", "/images/create", create_image),
    Route("POST", "/images/load", load_images),
    Route("POST", "/images/prune", prune_images),
    Route("GET", "/images/search", search_images),
    Route("GET", "/images/get", save_images),
    Route("GET", "/images/{name:path}/json", inspect_image),
    Route("GET", "/images/{name:path}/history", image_history),
    Route("GET", "/images/{name:path}/get", save_images),
    Route("POST", "/images/{name:path}/tag", tag_image),
    Route("POST", "/images/{name:path}/push", push_image),
    Route("DELETE", "/images/{name:path}", remove_image),
    Route("POST", "/commit", commit),
    Route("GET", "/distribution/{name:path}/json", distribution),
)
