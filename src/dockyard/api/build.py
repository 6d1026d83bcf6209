"""``POST /build``: the classic builder's API over ``engine.builder``: a tar context in the body, the
options as query parameters, and the answer as Docker's JSON stream (``stream`` lines, ``aux {ID}``,
``errorDetail`` at a failure)."""

from __future__ import annotations

import threading

from dockyard.api.http import HIJACKED, Request, Response, StreamWriter
from dockyard.api.router import Route
from dockyard.errors import DockyardError, InvalidArgumentError



class BuildStream:
    """The builder's progress (build.progress.Progress) as the classic builder's ``stream`` lines.

    Called from the builder's thread and, for ``log``, from RUN workers; a client that has gone makes
    the writes no-ops (the build finishes, as dockerd's does)."""

    def __init__(self, stream: StreamWriter, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.lock = threading.Lock()
        self.gone = False

    def send(self, message: dict[str, object], always: bool = False) -> None:
        if self.quiet and not always:
            return
        with self.lock:
            if self.gone:
                return
            try:
                self.stream.json_line(message)
            except OSError:
                self.gone = True

    def step(self, number: int, total: int, text: str, cached: bool | None = None) -> None:
        self.send({"stream": f"Step {number}/{total} : {text}\n"})
        if cached:
            self.send({"stream": " ---> Using cache\n"})

    def start(self, vertex: int, name: str) -> None:
        pass

    def log(self, vertex: int, data: bytes, stderr: bool = False) -> None:
        """A RUN step's output; its stderr between the colour codes the classic builder puts around it."""
        text = data.decode(errors="replace")
        self.send({"stream": f"\x1b[91m{text}\x1b[0m" if stderr else text})

    def cached(self, vertex: int) -> None:
        self.send({"stream": " ---> Using cache\n"})

    def done(self, vertex: int, seconds: float) -> None:
        pass

    def error(self, vertex: int, message: str) -> None:
        pass


def _json_map(request: Request, name: str) -> dict[str, str]:
    value = request.json_arg(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"invalid {name}: a JSON object is expected")
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _cache_from(request: Request) -> list[str]:
    value = request.json_arg("cachefrom")
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgumentError("invalid cachefrom: a JSON list is expected")
    return [str(v) for v in value]


def _extra_hosts(request: Request) -> tuple[str, ...]:
    """``extrahosts=name:ip,...`` as /etc/hosts lines; docker-py repeats the parameter, one host each."""
    lines = []
    for item in ",".join(request.query.get("extrahosts", [])).split(","):
        name, sep, address = item.strip().partition(":")
        if sep:
            lines.append(f"{address}\t{name}")
    return tuple(lines)


def build(request: Request) -> Response:
    from dockyard.api.images import registry_config
    from dockyard.engine.build import BuildOptions, BuildRequest, BuildSource, BuildStepError, parse_tag

    tags = [parse_tag(t) for t in request.query.get("t", []) if t]
    options = BuildOptions(
        tags=tags, build_args=_json_map(request, "buildargs"), labels=_json_map(request, "labels"),
        target=request.arg("target") or "", no_cache=request.flag("nocache"), pull=request.flag("pull"),
        cache_from=_cache_from(request), network=request.arg("networkmode") or "default",
        extra_hosts=_extra_hosts(request), classic=True,
    )  # fmt: skip
    remote = request.arg("remote") or ""
    # the first value, as Go's FormValue reads it: docker-py sends a Dockerfile from outside the context as
    # dockerfile=<name in the tar>&dockerfile=<its text>
    dockerfile = next(iter(request.query.get("dockerfile", [])), "")
    source = BuildSource(remote or "-", dockerfile, None if remote else request.body_stream())
    progress = BuildStream(request.stream(), request.flag("q"))
    try:
        report = request.engine.builder.build(BuildRequest(source, options, auths=registry_config(request)), progress)
    except DockyardError as exc:
        message = str(exc)
        detail: dict[str, object] = {"message": message}
        if isinstance(exc, BuildStepError) and exc.code:
            if exc.command:  # the classic builder's words, which docker-py's BuildError shows
                message = detail["message"] = f"The command '{exc.command}' returned a non-zero code: {exc.code}"
            detail["code"] = exc.code  # a RUN's exit code, as dockerd's JSONError carries it
        progress.send({"errorDetail": detail, "error": message}, always=True)
        return HIJACKED
    image_id = str(report.image_id)
    progress.send({"aux": {"ID": image_id}}, always=True)
    if progress.quiet:
        progress.send({"stream": image_id + "\n"}, always=True)
        return HIJACKED
    progress.send({"stream": f"Successfully built {image_id.removeprefix('sha256:')[:12]}\n"})
    for tag in tags:
        progress.send({"stream": f"Successfully tagged {tag.familiar}\n"})
    return HIJACKED


ROUTES: tuple[Route, ...] = (Route("POST", "/build", build),)
