#!/usr/bin/env python3
"""Write dockyard's launcher: the ``dockyard`` command without Python's site processing.

    python3 scripts/launcher.py [SCRIPT]     (default: the ``dockyard`` in this Python's scripts dir)

pip's console script runs ``python3`` with site processing, and reading the ``.pth`` files in
site-packages costs ~50 ms at every start, more than a light command's whole work. The launcher
runs ``python3.X -S`` and puts the package's dir and site-packages on ``sys.path`` itself (after
PYTHONPATH's entries, where the ``.pth`` files would put them; paths fixed when it is written).
The package is compiled to bytecode here too, so no start compiles it, and so is the code of its
record classes' methods (``dockyard.cli.startup`` says how).
"""

from __future__ import annotations

import compileall
import os
import sys
import sysconfig


def launcher_text(python: str, paths: list[str]) -> str:
    return f"""#!{python} -S
# dockyard's launcher (scripts/launcher.py): no site processing, which costs ~50 ms per start
import sys
sys.path += {paths!r}
from dockyard.cli.main import entry
entry()
"""


def write_launcher(script: str) -> None:
    import dockyard

    package_dir = os.path.dirname(os.path.abspath(dockyard.__file__))
    paths = [os.path.dirname(package_dir), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    python = os.path.realpath(sys.executable)  # the interpreter itself, not a pyenv shim
    partial = f"{script}.partial-{os.getpid()}"
    with open(partial, "w") as f:
        f.write(launcher_text(python, list(dict.fromkeys(paths))))
    os.chmod(partial, 0o755)
    os.replace(partial, script)
    compileall.compile_dir(package_dir, quiet=1)
    from dockyard.cli.startup import write_record_caches

    write_record_caches("dockyard")


if __name__ == "__main__":
    write_launcher(sys.argv[1] if len(sys.argv) > 1 else os.path.join(sysconfig.get_path("scripts"), "dockyard"))
