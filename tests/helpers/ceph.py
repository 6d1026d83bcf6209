"""A single-node Ceph cluster with its RADOS Gateway, started by the shared scripts, for S3 tests.

``start-ceph-rgw.sh`` installs the packages if missing, bootstraps a monitor and
one OSD on a sparse file, starts radosgw and prints the endpoint and keys. The
ports are picked free per run, so a developer's own Ceph on the default ports
never collides with the tests'. ``stop`` purges the data directory.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import urllib3

SCRIPTS_RELATIVE = Path("services") / "ceph-rgw"


def shared_dir() -> Path:
    local = Path(__file__).resolve().parents[2] / ".." / "shared"
    return local if (local / SCRIPTS_RELATIVE).is_dir() else Path("/work/shared")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_block(size: int) -> int:
    """The first of ``size`` consecutive free ports."""
    for _ in range(200):
        base = random.randrange(20000, 40000, 100)
        if all(_free(p) for p in range(base, base + size)):
            return base
    raise RuntimeError("no free block of ports for Ceph")


class Ceph:
    def __init__(self, data_dir: Path, osd_size_gb: int = 4) -> None:
        self.data_dir = data_dir
        self.scripts = shared_dir() / SCRIPTS_RELATIVE
        base = _port_block(60)
        self.env = {
            **os.environ,
            "MON_PORT": str(base), "OSD_PORT_MIN": str(base + 10), "OSD_PORT_MAX": str(base + 49),
            "S3_PORT": str(base + 50), "OSD_SIZE_GB": str(osd_size_gb), "OSD_MEMORY_TARGET": str(512 << 20),
        }
        self.endpoint = self.access_key = self.secret_key = ""
        self.region = "us-east-1"

    def start(self) -> Ceph:
        result = subprocess.run([str(self.scripts / "start-ceph-rgw.sh"), str(self.data_dir)], env=self.env,
                                check=False, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            self.stop()
            raise RuntimeError(f"Ceph did not start:\n{result.stderr[-3000:]}")
        values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        self.endpoint, self.access_key, self.secret_key = values["S3_ENDPOINT"], values["S3_ACCESS_KEY"], values["S3_SECRET_KEY"]
        self.region = values.get("S3_REGION", self.region)
        return self

    def stop(self) -> None:
        subprocess.run([str(self.scripts / "stop-ceph-rgw.sh"), str(self.data_dir), "--purge"], env=self.env,
                       check=False, capture_output=True, timeout=120)

    def _rgw_pid(self) -> int | None:
        try:
            return int((self.data_dir / "run" / "client.rgw.s3.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop_rgw(self) -> None:
        """Stops the gateway only (monitor and OSD keep running)."""
        pid = self._rgw_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        (self.data_dir / "run" / "client.rgw.s3.pid").unlink(missing_ok=True)

    def start_rgw(self) -> None:
        """Starts the gateway again (the script starts only what is not running) and waits for it."""
        self.start()
        http = urllib3.PoolManager(retries=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                http.request("GET", self.endpoint + "/", timeout=2)
                return
            except urllib3.exceptions.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("radosgw did not come back")

    def config(self, bucket: str, **extra: object) -> str:
        """The ``storage`` section of a registry configuration for ``bucket`` (JSON is YAML)."""
        import json

        s3 = {"endpoint": self.endpoint, "region": self.region, "bucket": bucket,
              "accesskey": self.access_key, "secretkey": self.secret_key, **extra}
        return json.dumps({"storage": {"s3": s3}})
