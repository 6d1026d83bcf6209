"""From a RUN, COPY/ADD or WORKDIR instruction and the stage's state to a plan:
what goes into its cache key, the ``created_by`` it records, and the work to do on a miss.

Planning runs on the builder's thread (it reads the database and the
context); ``execute`` runs in a worker.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator

from dockyard.build import fsops, steps
from dockyard.build import history as hist
from dockyard.build import instructions as ins
from dockyard.build.executor import BindMount, RunRequest
from dockyard.build.parser import chomp_heredoc, parse_heredoc
from dockyard.build.schedule import Wait
from dockyard.build.shell import Lex
from dockyard.build.state import PROXY_ARGS, StageState, resolve_path
from dockyard.errors import InvalidArgumentError
from dockyard.oci.digest import Digest
from dockyard.storage.snapshotter import Committed

if TYPE_CHECKING:
    from dockyard.build.builder import Builder



@dataclass(slots=True)
class Plan:
    key_parts: list[Any]
    created_by: str
    execute: Callable[[Committed | None, Callable[[bytes, bool], None], str], Path]  # output(chunk, stderr)
    by_history: bool = True  # --cache-from may match it by created_by (not so when it copies files)
    scratch: list[Path] = field(default_factory=list)  # files planning made (downloads): removed after the step


class Planner:
    def __init__(self, builder: Builder) -> None:
        self.b = builder

    def plan(self, state: StageState, command: ins.Instruction, stage: ins.Stage) -> Generator[Any, Any, Plan]:
        if isinstance(command, ins.Run):
            return (yield from self._run(state, command, stage))
        if isinstance(command, ins.Copy):
            return (yield from self._copy(state, command, stage))
        assert isinstance(command, ins.Workdir)
        return self._workdir(state, command)
        yield  # a generator in every case

    # RUN --------------------------------------------------------------------------

    def _run(self, state: StageState, run: ins.Run, stage: ins.Stage) -> Generator[Any, Any, Plan]:
        env_s = self.b.s.env
        script: tuple[str, str] | None = None
        if run.shell_form:
            cmd = run.cmd[0]
            heredoc = parse_heredoc(cmd) if run.files else None
            if heredoc is not None and len(run.files) == 1:
                body = chomp_heredoc(run.files[0].data) if run.files[0].chomp else run.files[0].data
                if body.startswith("#!"):
                    script = ("/dev/pipes/" + run.files[0].name, body)
                    argv = [script[0]]
                else:
                    argv = [*state.shell, body]
            else:
                for f in run.files:
                    cmd += "\n" + f.data + f.name
                argv = [*state.shell, cmd]
        else:
            argv = list(run.cmd)
        used = state.build_args_used()
        env = list(state.config.get("Env") or []) + state.build_arg_env()
        proxies = [(k, v) for k, v in self.b.opts.build_args.items() if k in PROXY_ARGS and k not in state.args]
        env += [f"{k}={v}" for k, v in proxies]
        plan = steps.RunPlan(RunRequest("", (), ()), script=script)
        mount_keys = yield from self._mounts(state, run, stage, plan)
        network = run.network or self.b.opts.network
        plan.request = RunRequest("", tuple(argv), tuple(env), state.workdir, state.config.get("User") or "",
                                  tuple(plan.request.mounts), network, extra_hosts=self.b.opts.extra_hosts)
        created_by = hist.run(argv, used)
        return Plan(
            ["RUN", argv, env, proxies, mount_keys, network, script],
            created_by,
            lambda parent, out, label: steps.execute_run(env_s, parent, plan, out, label),
        )

    def _mounts(self, state: StageState, run: ins.Run, stage: ins.Stage, plan: steps.RunPlan) -> Generator[Any, Any, list[Any]]:
        """RUN --mount: cache (a directory kept between builds), bind (from the context, read-only, or from a
        stage or image, writes discarded), tmpfs (an empty directory dropped afterwards), secret (--secret)."""
        mounts: list[BindMount] = []
        keys: list[Any] = []
        for spec in run.mounts:
            fields: dict[str, str] = {}
            for item in spec.split(","):
                key, sep, value = item.partition("=")
                fields[key.strip().lower()] = value if sep else "true"
            kind = fields.get("type", "bind")
            target = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
            if kind == "secret":
                secret = self._secret(fields, target)
                if secret is not None:
                    mounts.append(secret)  # its content stays out of the cache key, as in BuildKit
                    keys.append(["secret", secret.destination])
                continue
            if not target:
                raise InvalidArgumentError("mount target is required")
            target = resolve_path(state.workdir, state.expand(target))
            readonly = fields.get("readonly", fields.get("ro", "false")) == "true" or (
                kind == "bind" and fields.get("rw", fields.get("readwrite", "false")) != "true"
            )
            source = state.expand(fields.get("source") or fields.get("src") or ("/" if fields.get("from") else "."))
            if kind == "cache":
                ident = fields.get("id") or target
                mounts.append(BindMount(str(steps.cache_mount_dir(self.b.s.env, ident)), target, readonly))
                keys.append(["cache", target])
            elif kind == "bind" and fields.get("from"):
                chain = yield from self._chain_of(state.expand(fields["from"]), stage)
                plan.stage_mounts.append(steps.StageMount(self.b.s.committed(chain), source, target, readonly))
                keys.append(["bind-from", str(chain), source, target, readonly])
            elif kind == "bind":
                context = self._context()
                found = context.resolve(source)[0]
                mounts.append(BindMount(str(found.path), target, True))  # never let a step write into the context
                keys.append(["bind", target, context.checksum([found])])
            elif kind == "tmpfs":
                plan.tmpfs.append(target)
                keys.append(["tmpfs", target])
            else:
                raise InvalidArgumentError(f"unsupported mount type {kind!r}")
        plan.request = RunRequest("", (), (), mounts=tuple(mounts))
        return keys

    def _secret(self, fields: dict[str, str], target: str) -> BindMount | None:
        """RUN --mount=type=secret,id=ID[,target=PATH][,required]: a --secret file, read-only, never in a layer."""
        ident = fields.get("id") or posixpath.basename(target)
        if not ident:
            raise InvalidArgumentError("secret ID missing from mount options")
        source = self.b.opts.secrets.get(ident)
        if source is None:
            if fields.get("required", "false") == "true":
                raise InvalidArgumentError(f"secret {ident} not found")
            return None  # an optional secret that was not given: no mount, as BuildKit
        return BindMount(source, target or f"/run/secrets/{ident}", True)

    def _chain_of(self, name: str, stage: ins.Stage) -> Generator[Any, Any, Any]:
        """The top layer of a stage (waiting for it) or of an image (leased to this build)."""
        dep = self.b.stage_ref(name, stage.index)
        if dep is not None:
            return (yield Wait(dep.index)).chain
        row, _ = self.b.image_layers(name)
        chain = Digest.parse(row.top_layer) if row.top_layer else None
        if chain is not None and not self.b.cache.hold(chain):
            raise InvalidArgumentError(f"{name} was removed during the build")
        return chain

    def _context(self) -> Any:
        if self.b.context is None:
            raise InvalidArgumentError("no build context: this step needs files from one")
        return self.b.context

    # COPY / ADD -----------------------------------------------------------------------

    def _copy(self, state: StageState, copy: ins.Copy, stage: ins.Stage) -> Generator[Any, Any, Plan]:
        env_s = self.b.s.env
        sources = [state.expand(s) for s in copy.sources]
        dest_word = state.expand(copy.dest)
        dest = resolve_path(state.workdir, dest_word) + ("/" if dest_word.endswith(("/", "/.")) or dest_word in (".", "") else "")
        dest = dest.replace("//", "/")
        chown = state.expand(copy.chown)
        mode = fsops.parse_chmod(state.expand(copy.chmod))
        plan = steps.CopyPlan(dest, None, mode, chown_spec=chown)
        parts: list[Any] = [copy.keyword, sources, dest, chown, mode]
        if copy.source_stage:
            chain = yield from self._chain_of(state.expand(copy.source_stage), stage)
            plan.from_stage = True
            plan.from_parent = self.b.s.committed(chain)
            plan.from_paths = sources
            parts.append(["from", str(chain)])
        else:
            parts.append(self._local_sources(copy, sources, plan))
        for f in copy.contents:
            data = Lex(escape=state.escape, skip_quotes=True).process_word(f.data, state.scope()) if f.expand else f.data
            plan.inline.append((f.name, data.encode()))
            parts.append(["inline", f.name, data])
        shown = sources + [f"<<{f.name}" for f in copy.contents]
        created_by = f"{copy.keyword} {' '.join(shown)} {dest_word} # buildkit"
        scratch = [path for _, path, _ in plan.downloads]
        return Plan(parts, created_by, lambda parent, out, label: steps.execute_copy(env_s, parent, plan), False, scratch)

    def _local_sources(self, copy: ins.Copy, sources: list[str], plan: steps.CopyPlan) -> list[Any]:
        sums: list[Any] = []
        for src in sources:
            if copy.is_add and urllib.parse.urlsplit(src).scheme in ("http", "https"):
                from dockyard.build.fetch import (
                    download,  # urllib is slow to import and rarely needed
                )

                name, path, mtime, digest = download(src, self.b.s.env.tmp)
                plan.downloads.append((name, path, mtime))
                sums.append(["url", src, digest])
                continue
            context = self._context()
            found = context.resolve(src)
            if copy.is_add and len(found) == 1 and not found[0].is_dir and fsops.is_archive(found[0].path):
                plan.archives.append(found[0].path)
            else:
                plan.items += [steps.CopyItem(s, context.root, context.walk(s) if s.is_dir else []) for s in found]
            sums.append(["context", src, context.checksum(found)])
        return sums

    # WORKDIR --------------------------------------------------------------------------

    def _workdir(self, state: StageState, workdir: ins.Workdir) -> Plan:
        env_s = self.b.s.env
        path = resolve_path(state.workdir, state.expand(workdir.path))
        state.config["WorkingDir"] = path
        user = state.config.get("User") or ""  # the directories it makes belong to USER, as in BuildKit
        return Plan(["WORKDIR", path, user], f"WORKDIR {path}",
                    lambda parent, out, label: steps.execute_mkdir(env_s, parent, path, user))
