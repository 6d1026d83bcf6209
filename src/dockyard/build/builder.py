"""The builder: Dockerfile stages → images, with a cache, in parallel where stages allow.

Each needed stage runs as a generator on the builder's thread (all metadata
and database work happens there); it yields ``Work`` (a filesystem step for a
worker thread) or ``Wait`` (another stage's result) and is resumed with the
answer. Stages the target does not need never start.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Generator

from dockyard.build import instructions as ins
from dockyard.build import steps, workspace
from dockyard.build.cache import BuildCache, CacheEntry, step_key
from dockyard.build.context import BuildContext
from dockyard.build.errors import BuildStepError
from dockyard.build.history import COMMENT
from dockyard.build.metadata import apply_metadata
from dockyard.build.output import Output
from dockyard.build.plans import Plan, Planner
from dockyard.build.progress import Progress
from dockyard.build.schedule import Scheduler, Wait, Work
from dockyard.build.shell import Lex
from dockyard.build.state import DEFAULT_PATH, HistoryItem, StageState
from dockyard.errors import DockyardError, ImageNotFoundError, InvalidArgumentError
from dockyard.image.layerstore import LayerJob, StagedLayers
from dockyard.image.store import ImageStore
from dockyard.oci.descriptor import canonical_json
from dockyard.oci.digest import Digest
from dockyard.oci.platform import host_architecture
from dockyard.oci.reference import Reference, parse_docker_ref
from dockyard.oci.timefmt import format_time
from dockyard.storage.snapshotter import Committed

CONFIG_ORDER = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal",
                "Healthcheck", "ArgsEscaped", "OnBuild", "Shell")  # fmt: skip
LAYER_STEPS = (ins.Run, ins.Copy, ins.Workdir)


@dataclass(frozen=True, slots=True)
class BuildOptions:
    tags: list[Reference] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    cache_from: list[str] = field(default_factory=list)
    epoch: int | None = None  # SOURCE_DATE_EPOCH: fixed times, clamped mtimes
    network: str = "default"  # for RUN steps without --network
    secrets: dict[str, str] = field(default_factory=dict)  # --secret id -> host file
    extra_hosts: tuple[str, ...] = ()  # --add-host, as /etc/hosts lines
    # the classic builder's cache (the Engine API's /build): a step that only changes the config is cached
    # as a step of its own, and --cache-from images are the only cache (local steps count when they hold them)
    classic: bool = False


@dataclass(slots=True)
class Services:
    """What the engine wires in."""

    images: ImageStore
    committed: Callable[[Digest | None], Committed | None]  # a stage's parent for the snapshotter
    env: steps.Env
    ensure_image: Callable[[str, bool], None]  # (name, always): pull a base image when missing, or always (--pull)
    progress: Progress
    cache: BuildCache


StageGen = Generator[Work | Wait, Any, StageState]


class Builder:
    def __init__(self, services: Services, dockerfile: ins.Dockerfile, context: BuildContext | None, options: BuildOptions) -> None:
        self.s = services
        self.df = dockerfile
        self.context = context
        self.opts = options
        self.cache = services.cache
        self.cache.sweep_leases()
        self.meta = self._meta_args()
        self._vertex = 0
        self._sources: set[Digest] | None = None  # the layers of the --cache-from images (classic builder)
        self._now = self._clock()
        self.planner = Planner(self)

    # entry ----------------------------------------------------------------------

    def build(self) -> Digest:
        """Build the target stage and store it as an image (tagged as the options say)."""
        return self._run(self._commit_image)

    def export(self, output: Output) -> None:
        """Build the target stage and write its filesystem out instead of storing an image."""

        def write(state: StageState) -> None:
            ws = workspace.Workspace(self.s.env.snapshotter, self.s.committed(state.chain), self.s.env.tmp, writable=False).open()
            try:
                output.write(ws.rootfs, self.s.env.clamp)
            finally:
                ws.remove()

        self._run(write)

    def _run(self, finish: Callable[[StageState], Any]) -> Any:
        target = self._target()
        needed = self._needed(target)
        try:
            results = self._schedule({i: self._stage(self.df.stages[i]) for i in sorted(needed)})
            return finish(results[target.index])
        finally:
            workspace.drain()
            self.cache.end_lease()

    def _meta_args(self) -> dict[str, str]:
        scope: dict[str, str] = platform_args()
        for arg in self.df.meta_args:
            for key, default in arg.args:
                if key in self.opts.build_args:
                    scope[key] = self.opts.build_args[key]
                elif default is not None:
                    scope[key] = Lex(escape=self.df.escape).process_word(default, scope)
        return scope

    def _clock(self) -> str:
        if self.opts.epoch is not None:
            return format_time(datetime.fromtimestamp(self.opts.epoch, timezone.utc))
        return format_time(datetime.now(timezone.utc))

    def now(self) -> str:
        return self._now if self.opts.epoch is not None else format_time(datetime.now(timezone.utc))

    def _target(self) -> ins.Stage:
        if not self.opts.target:
            return self.df.stages[-1]
        stage = self.df.stage(self.opts.target)
        if stage is None:
            raise InvalidArgumentError(f"failed to reach build target {self.opts.target} in Dockerfile")
        return stage

    def stage_ref(self, name: str, before: int) -> ins.Stage | None:
        """A stage a FROM or --from names, if it is one defined before ``before``."""
        stage = self.df.stage(name)
        return stage if stage is not None and stage.index < before else None

    def _expand_meta(self, word: str) -> str:
        return Lex(escape=self.df.escape).process_word(word, self.meta)

    def _needed(self, target: ins.Stage) -> set[int]:
        needed: set[int] = set()
        todo = [target]
        while todo:
            stage = todo.pop()
            if stage.index in needed:
                continue
            needed.add(stage.index)
            names = [self._expand_meta(stage.source.base)]
            names += [self._expand_meta(c.source_stage) for c in stage.commands if isinstance(c, ins.Copy) and c.source_stage]
            names += [m for c in stage.commands if isinstance(c, ins.Run) for m in _mount_froms(c)]
            for name in names:
                dep = self.stage_ref(name, stage.index)
                if dep is not None:
                    todo.append(dep)
        return needed

    # scheduling -------------------------------------------------------------------

    def _schedule(self, gens: dict[int, StageGen]) -> dict[int, StageState]:
        return Scheduler(gens, max(2, min(4, os.cpu_count() or 2))).run()

    # a stage ----------------------------------------------------------------------

    def _label(self, stage: ins.Stage, number: int, commands: list[ins.Instruction] | None = None) -> str:
        total = 1 + sum(isinstance(c, LAYER_STEPS) for c in (stage.commands if commands is None else commands))
        prefix = (stage.name or f"stage-{stage.index}") + " " if len(self.df.stages) > 1 else ""
        return f"[{prefix}{number}/{total}]"

    def next_vertex(self) -> int:
        self._vertex += 1
        return self._vertex

    def _stage(self, stage: ins.Stage) -> StageGen:
        base_name = self._expand_meta(stage.source.base)
        vertex = self.next_vertex()
        label = f"{self._label(stage, 1)} FROM {base_name}"
        first, total = self._numbers(stage)
        self.s.progress.step(first, total, stage.source.original.strip())
        self.s.progress.start(vertex, label)
        started = time.monotonic()
        dep = self.stage_ref(base_name, stage.index)
        if dep is not None:
            state = (yield Wait(dep.index)).fork()
        elif base_name.lower() == "scratch":
            state = StageState({}, {"architecture": host_architecture(), "os": "linux"}, key="scratch")
        else:
            state = self._image_state(base_name, label)
        state.escape = self.df.escape
        if not any(e.startswith("PATH=") for e in state.config.get("Env") or []):
            state.config["Env"] = [f"PATH={DEFAULT_PATH}", *(state.config.get("Env") or [])]
        self.s.progress.done(vertex, time.monotonic() - started)
        triggers = state.config.pop("OnBuild", None) or []
        commands = [ins.parse_instruction(n) for t in triggers for n in _trigger_nodes(t)] + stage.commands
        number = 1
        unnumbered = len(commands) - len(stage.commands)  # ONBUILD triggers run as part of FROM
        for i, command in enumerate(commands):
            ordinal = first + 1 + i - unnumbered
            if isinstance(command, LAYER_STEPS):
                number += 1
                label = f"{self._label(stage, number, commands)} {command.original.strip()}"
                if ordinal > first:
                    self.s.progress.step(ordinal, total, command.original.strip())
                yield from self._layer_step(state, command, label, stage)
            else:
                try:
                    apply_metadata(state, command, self.opts.build_args, self.meta)
                except InvalidArgumentError as exc:
                    raise BuildStepError(f"dockerfile parse error line {command.line}: {exc}", "") from None
                if ordinal > first:
                    self.s.progress.step(ordinal, total, command.original.strip(), self._config_step(state))
        return state

    def _numbers(self, stage: ins.Stage) -> tuple[int, int]:
        """(the number of the stage's FROM, the count of the file's instructions), as the classic builder counts."""
        sizes = [1 + len(s.commands) for s in self.df.stages]
        return 1 + sum(sizes[:stage.index]), sum(sizes)

    def _config_step(self, state: StageState) -> bool:
        """Whether the cache held this step that only changes the config (the classic builder's: each such
        step is an image of its own). Recorded, without a layer, only for the classic builder."""
        if not self.opts.classic:
            return False
        key = step_key(state.key, "config", state.config)
        if not self.opts.no_cache and self.cache.get(key) is not None and self._in_sources(state.chain):
            return True
        self.cache.put(key, None, self.now())
        return False

    def _in_sources(self, chain: Digest | None) -> bool:
        """The classic builder's --cache-from: a step found in the local cache counts only when one of the
        given images holds the layers it builds on; without --cache-from, always."""
        if not self.opts.classic or not self.opts.cache_from:
            return True
        if self._sources is None:
            self._sources = set()
            for name in self.opts.cache_from:
                try:
                    row = self.s.images.resolve(name)
                except DockyardError:
                    continue
                self._sources.update(layer.chain_id for layer in self.s.images.layers_of(row))
        return chain is None or chain in self._sources

    def image_layers(self, name: str) -> tuple[Any, Any]:
        """The local image ``name`` (pulled first when missing or with --pull): its row and config."""
        images = self.s.images
        try:
            if self.opts.pull:
                raise ImageNotFoundError(name)
            row = images.resolve(name)
        except ImageNotFoundError:
            try:
                self.s.ensure_image(name, self.opts.pull)
                row = images.resolve(name)
            except DockyardError as exc:
                try:
                    shown = str(parse_docker_ref(name).with_default_tag())
                except DockyardError:
                    shown = name
                raise BuildStepError(
                    f"failed to solve with frontend dockerfile.v0: failed to create LLB definition: {exc}",
                    f"[internal] load metadata for {shown}",
                ) from None
        return row, images.config(row.id)

    def _image_state(self, name: str, label: str) -> StageState:
        row, config = self.image_layers(name)
        # the platform and history carry over; the base's own comment, author and container do not
        image = {k: v for k, v in config.data.items() if k in ("architecture", "os", "variant", "os.version", "os.features")}
        image["history"] = list(config.data.get("history") or [])
        cfg = {k: v for k, v in config.config.items() if v not in (None, "", [], {}, False)}
        cfg.pop("Image", None)
        chain = Digest.parse(row.top_layer) if row.top_layer else None
        if chain is not None and not self.cache.hold(chain):  # an rmi meanwhile
            raise BuildStepError(f"failed to solve with frontend dockerfile.v0: {name} was removed during the build", label)
        return StageState(cfg, image, config.diff_ids, chain, key=row.id)

    # layer steps ------------------------------------------------------------------

    def _layer_step(self, state: StageState, command: ins.Instruction, label: str, stage: ins.Stage) -> Generator[Work | Wait, Any, None]:
        try:
            plan = yield from self.planner.plan(state, command, stage)
        except (InvalidArgumentError, DockyardError) as exc:
            if isinstance(exc, BuildStepError):
                raise
            raise BuildStepError(str(exc), label) from None
        try:
            yield from self._run_plan(state, plan, label)
        finally:
            for path in plan.scratch:
                path.unlink(missing_ok=True)

    def _run_plan(self, state: StageState, plan: Plan, label: str) -> Generator[Work | Wait, Any, None]:
        key = step_key(state.key, plan.key_parts)
        vertex = self.next_vertex()
        self.s.progress.start(vertex, label)
        started = time.monotonic()
        entry = None
        if not self.opts.no_cache:
            entry = self.cache.get(key)
            if entry is not None and not self._in_sources(entry.chain_id or state.chain):
                entry = None
            entry = entry or (self._from_cache_images(state, plan.created_by) if plan.by_history else None)
        if entry is not None:
            self.s.progress.cached(vertex)
            self._apply(state, entry, plan.created_by)
            return
        parent = self.s.committed(state.chain)  # on this thread: the database connection is per thread
        try:
            tar = yield Work(lambda: plan.execute(parent, lambda data, stderr: self.s.progress.log(vertex, data, stderr), label))
        except BuildStepError as exc:
            self.s.progress.error(vertex, str(exc))
            raise
        except DockyardError as exc:
            self.s.progress.error(vertex, str(exc))
            raise BuildStepError(str(exc), label) from None
        entry = self._store(key, state, tar)
        self._apply(state, entry, plan.created_by)
        self.s.progress.done(vertex, time.monotonic() - started)

    def _store(self, key: str, state: StageState, tar: Path) -> CacheEntry:
        try:
            staged = self.s.images.layers.stage(state.chain, [LayerJob(lambda: open(tar, "rb"))])
        finally:
            tar.unlink(missing_ok=True)
        return self.cache.put(key, staged, self.now())

    def _apply(self, state: StageState, entry: CacheEntry, created_by: str) -> None:
        state.key = entry.key
        if entry.chain_id is not None and entry.diff_id is not None:
            state.chain = entry.chain_id
            state.diff_ids.append(entry.diff_id)
        state.history.append(HistoryItem(created_by, entry.chain_id is None, entry.created))

    def _from_cache_images(self, state: StageState, created_by: str) -> CacheEntry | None:
        """--cache-from: a layer of a given image whose layers below match ours and whose step matches."""
        for name in self.opts.cache_from:
            try:
                row = self.s.images.resolve(name)
            except DockyardError:
                continue
            config = self.s.images.config(row.id)
            stack = self.s.images.layers_of(row)
            depth = len(state.diff_ids)
            if len(stack) <= depth or [layer.diff_id for layer in stack[:depth]] != state.diff_ids:
                continue
            seen = 0
            for item in config.history:
                if item.empty_layer:
                    continue
                if seen == depth and item.created_by == created_by:
                    layer = stack[depth]
                    if not self.cache.hold(layer.chain_id):
                        return None
                    return CacheEntry(step_key(state.key, created_by, "cache-from"), layer.chain_id, layer.diff_id, item.created)
                seen += 1
        return None

    # the image --------------------------------------------------------------------

    def _commit_image(self, state: StageState) -> Digest:
        config = dict(state.config)
        if self.opts.labels:
            config["Labels"] = {**(config.get("Labels") or {}), **self.opts.labels}
        ordered = {k: config[k] for k in CONFIG_ORDER if config.get(k) not in (None, [], {}, "")}
        ordered.update({k: v for k, v in config.items() if k not in CONFIG_ORDER and v not in (None, [], {}, "", False)})
        history = list(state.image.get("history") or []) + self._history(state.history)
        created = history[-1]["created"] if history else self.now()
        image = {**{k: v for k, v in state.image.items() if k != "history"}, "config": ordered, "created": created,
                 "history": history, "rootfs": {"type": "layers", "diff_ids": [str(d) for d in state.diff_ids]}}
        raw = canonical_json(dict(sorted(image.items())))
        layers = self.s.images.layers.stack(state.chain) if state.chain else []
        image_id, _ = self.s.images.add(raw, StagedLayers(layers=list(layers)), tags=self.opts.tags)
        return image_id

    def _history(self, items: list[HistoryItem]) -> list[dict[str, Any]]:
        """Metadata steps carry the time of the next layer step (the last one's after it), as BuildKit writes them."""
        times: list[str | None] = [item.created for item in items]
        following: str | None = None
        for i in range(len(times) - 1, -1, -1):
            following = times[i] or following
            times[i] = following
        last: str | None = None
        out = []
        for item, when in zip(items, times, strict=True):
            last = item.created or when or last or self.now()
            entry: dict[str, Any] = {"created": item.created or when or last, "created_by": item.created_by, "comment": COMMENT}
            if item.empty_layer:
                entry["empty_layer"] = True
            out.append(entry)
        return out


def platform_args() -> dict[str, str]:
    """BuildKit's automatic platform ARGs (this host builds for itself)."""
    arch = host_architecture()
    out = {}
    for side in ("BUILD", "TARGET"):
        out |= {f"{side}PLATFORM": f"linux/{arch}", f"{side}OS": "linux", f"{side}ARCH": arch, f"{side}VARIANT": ""}
    return out


def _mount_froms(run: ins.Run) -> list[str]:
    out = []
    for spec in run.mounts:
        fields = dict(f.split("=", 1) if "=" in f else (f, "") for f in spec.split(","))
        if fields.get("from"):
            out.append(fields["from"])
    return out


def _trigger_nodes(expression: str) -> list[Any]:
    from dockyard.build.parser import parse

    return parse(expression).nodes
