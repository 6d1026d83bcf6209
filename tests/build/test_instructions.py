"""Typed instructions from Dockerfile text: flags, forms, heredocs, and BuildKit's error messages with lines."""

from __future__ import annotations

import pytest

from dockyard.build import instructions as ins
from dockyard.build.parser import DockerfileSyntaxError


def _one(text: str) -> ins.Instruction:
    return ins.parse_dockerfile(f"FROM scratch\n{text}\n").stages[0].commands[0]


def test_forms_flags_and_heredocs() -> None:
    run = _one("RUN --mount=type=cache,target=/c --network=none echo hi")
    assert isinstance(run, ins.Run) and run.shell_form and run.cmd == ("echo hi",)
    assert run.mounts == ("type=cache,target=/c",) and run.network == "none"
    exec_form = _one('RUN ["echo", "a b"]')
    assert isinstance(exec_form, ins.Run) and not exec_form.shell_form and exec_form.cmd == ("echo", "a b")
    copy = _one("COPY --from=build --chown=1:2 --chmod=644 --link a b /dst/")
    assert isinstance(copy, ins.Copy) and copy.sources == ("a", "b") and copy.dest == "/dst/"
    assert (copy.source_stage, copy.chown, copy.chmod, copy.link) == ("build", "1:2", "644", True)
    inline = _one("COPY <<-EOT /etc/x\n\tindented\nEOT")
    assert isinstance(inline, ins.Copy) and inline.contents[0].data == "indented\n"
    health = _one("HEALTHCHECK --interval=1m30s --timeout=500ms --retries=2 CMD curl -f x")
    assert isinstance(health, ins.Healthcheck) and health.test == ("CMD-SHELL", "curl -f x")
    assert (health.interval, health.timeout, health.retries) == (90 * 10**9, 500 * 10**6, 2)
    onbuild = _one("ONBUILD RUN echo later")
    assert isinstance(onbuild, ins.Onbuild) and onbuild.expression == "RUN echo later"


def test_stages_and_meta_args() -> None:
    df = ins.parse_dockerfile("ARG A=1\nARG B\nFROM x AS One\nFROM --platform=linux/amd64 One\n")
    assert [a.args for a in df.meta_args] == [(("A", "1"),), (("B", None),)]
    assert [s.name for s in df.stages] == ["one", ""] and df.stages[1].source.platform == "linux/amd64"
    assert df.stage("ONE") is df.stages[0] and df.stage("1") is df.stages[1] and df.stage("two") is None


@pytest.mark.parametrize(("text", "message"), [
    ("FROM a b", "FROM requires either one or three arguments"),
    ("FROM a AS 1x", 'invalid name for build stage: "1x", name can\'t start with a number or contain symbols'),
    ("COPY onlyone", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
    ("COPY --bogus=1 a b", "unknown flag: bogus"),
    ("COPY --chown a b", "missing a value on flag: chown"),
    ("HEALTHCHECK CONNECT TCP 7000", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK --retries=-1 CMD true", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --interval=1us CMD true", 'Interval "interval" cannot be less than 1ms'),
    ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ("WORKDIR", "WORKDIR requires exactly one argument"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ('CMD ["a", 1]', "when using JSON array syntax, arrays must be comprised of strings only"),
    ("SHELL /bin/bash", "SHELL requires the arguments to be in JSON form"),
    ("RUNN echo", "unknown instruction: RUNN (did you mean run?)"),
    ("COPY <<EOT <<EOT2\nx\nEOT", "unterminated heredoc"),
])  # fmt: skip
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileSyntaxError) as caught:
        ins.parse_dockerfile(f"FROM scratch\n{text}\n" if not text.startswith("FROM") else f"{text}\n")
    assert caught.value.message == message
    assert str(caught.value).startswith(f"dockerfile parse error line {1 if text.startswith('FROM') else 2}: ")


def test_instruction_before_from() -> None:
    with pytest.raises(DockerfileSyntaxError, match="no build stage in current context"):
        ins.parse_dockerfile("RUN x\nFROM y\n")
