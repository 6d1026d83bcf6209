"""login/logout and authenticated pulls and pushes: htpasswd (Basic) and token (Bearer) registries."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

from tests.conftest import needs_root
from tests.registry_client.conftest import Client
from tests.registry_client.servers import (
    Distribution,
    FaultProxy,
    Faults,
    RecordingBlobServer,
    TokenServer,
)

pytestmark = [needs_root]


def _config(client: Client) -> dict:  # type: ignore[type-arg]
    return json.loads((client.config_dir / "config.json").read_text())


def _login(client: Client, host: str, user: str, password: str, check: bool = True):  # type: ignore[no-untyped-def]
    return client("login", host, "-u", user, "--password-stdin", input=password.encode() + b"\n", check=check)


def test_basic_login_is_checked_then_saved_in_dockers_format(basic_registry: Distribution, client: Client) -> None:
    wrong = _login(client, basic_registry.host, "alice", "nope", check=False)
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == f"Error response from daemon: login attempt to http://{basic_registry.host}/v2/ failed with status: 401 Unauthorized"
    assert not (client.config_dir / "config.json").exists()
    ok = _login(client, basic_registry.host, "alice", "wonderland")
    assert ok.stdout == "Login Succeeded\n"
    assert "WARNING! Your credentials are stored unencrypted in " in ok.stderr
    auth = _config(client)["auths"][basic_registry.host]["auth"]
    assert base64.b64decode(auth) == b"alice:wonderland"
    assert stat.S_IMODE(os.stat(client.config_dir / "config.json").st_mode) == 0o600


def test_password_flag_warns_and_flags_conflict(basic_registry: Distribution, client: Client) -> None:
    ok = client("login", "-u", "alice", "-p", "wonderland", basic_registry.host)
    assert ok.stderr.startswith("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    both = client("login", "-u", "alice", "-p", "x", "--password-stdin", basic_registry.host, input=b"x", check=False)
    assert both.returncode == 1 and "--password and --password-stdin are mutually exclusive" in both.stderr
    no_user = client("login", "--password-stdin", basic_registry.host, input=b"x", check=False)
    assert no_user.returncode == 1 and "Must provide --username with --password-stdin" in no_user.stderr


def test_basic_auth_push_pull_and_logout(basic_registry: Distribution, client: Client, other_client: Client, busybox_tar: Path, repo: str) -> None:
    name = f"{basic_registry.host}/{repo}:1"
    client("import", str(busybox_tar), name)
    denied = client("push", name, check=False)
    assert (denied.returncode, denied.stderr) == (1, "no basic auth credentials\n")  # Docker: the cause alone
    pulled = other_client("pull", name, check=False)
    assert pulled.stderr.endswith(": no basic auth credentials\n") and pulled.stderr.startswith("Error response from daemon: Head ")
    _login(client, basic_registry.host, "alice", "wonderland")
    client("push", "-q", name)
    other_client("pull", "-q", name)  # shares the config dir, so the login
    assert client("logout", basic_registry.host).stdout == f"Removing login credentials for {basic_registry.host}\n"
    assert basic_registry.host not in _config(client)["auths"]
    assert client("logout", basic_registry.host).stdout == f"Removing login credentials for {basic_registry.host}\n"  # Docker 28


def test_docker_hub_login_key(client: Client) -> None:
    """Docker Hub logins live under https://index.docker.io/v1/; logout of a server never logged in says
    what it removes all the same (Docker 28)."""
    assert client("logout").stdout == "Removing login credentials for https://index.docker.io/v1/\n"
    client.config_dir.mkdir(parents=True)
    (client.config_dir / "config.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"u:p").decode()}}, "psFormat": "x"}))
    assert client("logout", "docker.io").stdout == "Removing login credentials for https://index.docker.io/v1/\n"
    assert _config(client) == {"auths": {}, "psFormat": "x"}  # other keys are kept


def test_token_auth_scopes_and_roles(token_auth: tuple[Distribution, TokenServer], client: Client, tmp_path: Path, busybox_tar: Path, repo: str) -> None:
    registry, tokens = token_auth
    wrong = _login(client, registry.host, "bob", "nope", check=False)
    assert wrong.returncode == 1 and "unauthorized: incorrect username or password" in wrong.stderr
    _login(client, registry.host, "bob", "builder")
    name = f"{registry.host}/{repo}:1"
    client("import", str(busybox_tar), name)
    tokens.requests.clear()
    client("push", "-q", name)
    assert {"user": "bob", "scopes": [f"repository:{repo}:pull,push"], "service": TokenServer.SERVICE} in tokens.requests
    # a push to another repository mounts from the first: one token names both scopes
    client("tag", name, f"{registry.host}/{repo}-b:1")
    tokens.requests.clear()
    assert "Mounted from" in client("push", f"{registry.host}/{repo}-b:1").stdout
    assert any(sorted(r["scopes"]) == sorted([f"repository:{repo}-b:pull,push", f"repository:{repo}:pull"]) for r in tokens.requests), tokens.requests
    # a reader can pull but not push; anonymous users get nothing
    reader = Client(tmp_path / "reader-root", tmp_path / "reader-config")
    anonymous = reader("pull", name, check=False)
    assert anonymous.returncode == 1 and "pull access denied" in anonymous.stderr, anonymous.stderr
    _login(reader, registry.host, "reader", "only")
    reader("pull", "-q", name)
    reader("tag", name, f"{registry.host}/{repo}-c:1")
    refused = reader("push", f"{registry.host}/{repo}-c:1", check=False)
    assert refused.returncode == 1 and ("denied" in refused.stderr or "authentication required" in refused.stderr), refused.stderr


def test_token_cache_new_scope_and_expiry(token_auth: tuple[Distribution, TokenServer]) -> None:
    from dockyard.registry.client.auth import Credentials
    from dockyard.registry.client.hosts import RegistryOptions
    from dockyard.registry.client.session import Connector

    registry, tokens = token_auth
    connector = Connector(RegistryOptions(), lambda _key: Credentials("bob", "builder"))
    now = [1000.0]
    session = connector.connect(registry.host)
    session.auth._clock = lambda: now[0]  # the one seam: time
    tokens.requests.clear()
    pull = frozenset({"repository:a/b:pull"})
    session.auth.header(pull)
    session.auth.header(pull)
    assert len(tokens.requests) == 1
    session.auth.header(frozenset({"repository:a/b:pull,push"}))
    assert len(tokens.requests) == 2  # a new scope, a new token
    now[0] += tokens.expires_in + 1
    session.auth.header(pull)
    assert len(tokens.requests) == 3  # expired
    connector.close()


def test_redirected_blobs_do_not_get_the_registry_credentials(basic_registry: Distribution, client: Client, other_client: Client, busybox_tar: Path, repo: str) -> None:
    _login(client, basic_registry.host, "alice", "wonderland")
    name = f"{basic_registry.host}/{repo}:1"
    client("import", str(busybox_tar), name)
    client("push", "-q", name)
    cdn = RecordingBlobServer(basic_registry.url, "Basic " + base64.b64encode(b"alice:wonderland").decode())
    proxy = FaultProxy(basic_registry.url, Faults(redirect_blobs_to=cdn.url))
    try:
        _login(other_client, proxy.host, "alice", "wonderland")
        other_client("pull", "-q", f"{proxy.host}/{repo}:1")
        sent_to_registry = [r[2].get("Authorization") for r in proxy.requests if "/manifests/" in r[1]]
    finally:
        proxy.stop()
        cdn.stop()
    assert cdn.authorizations and all(a is None for a in cdn.authorizations)
    assert sent_to_registry and all(a and a.startswith("Basic ") for a in sent_to_registry)


HELPER = """#!{python}
import json, os, sys
path = os.environ["DYKTEST_STORE"]
data = json.load(open(path)) if os.path.exists(path) else {{}}
action, body = sys.argv[1], sys.stdin.read()
if action == "store":
    entry = json.loads(body); data[entry["ServerURL"]] = entry
elif action == "get":
    if body.strip() not in data:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps(data[body.strip()]))
elif action == "erase":
    data.pop(body.strip(), None)
json.dump(data, open(path, "w"))
"""


def test_credential_helper_protocol(basic_registry: Distribution, client: Client, tmp_path: Path, busybox_tar: Path, repo: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-dyktest"
    helper.write_text(HELPER.format(python=sys.executable))
    helper.chmod(0o755)
    client.config_dir.mkdir(parents=True)
    (client.config_dir / "config.json").write_text(json.dumps({"credsStore": "dyktest"}))
    store = tmp_path / "helper-store.json"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "DYKTEST_STORE": str(store)}
    out = client("login", basic_registry.host, "-u", "alice", "--password-stdin", input=b"wonderland", env=env)
    assert "stored unencrypted" not in out.stderr
    assert json.loads(store.read_text())[basic_registry.host] == {"ServerURL": basic_registry.host, "Username": "alice", "Secret": "wonderland"}
    assert _config(client)["auths"] == {basic_registry.host: {}}
    name = f"{basic_registry.host}/{repo}:1"
    client("import", str(busybox_tar), name)
    client("push", "-q", name, env=env)
    client("logout", basic_registry.host, env=env)
    assert json.loads(store.read_text()) == {}


def test_login_logout_and_search_never_open_the_store(basic_registry: Distribution, tmp_path: Path) -> None:
    """They read only the configuration: the root is not even created, and a root that cannot be one works."""
    for root in (tmp_path / "never-made", Path("/proc/version/not-a-dir")):
        client = Client(root, tmp_path / "docker-config")
        assert _login(client, basic_registry.host, "alice", "wonderland").stdout == "Login Succeeded\n"
        found = client("search", f"{basic_registry.host}/nothing-here", check=False)
        assert "cannot use root" not in found.stderr
        assert client("logout", basic_registry.host).stdout == f"Removing login credentials for {basic_registry.host}\n"
        assert not root.exists()
