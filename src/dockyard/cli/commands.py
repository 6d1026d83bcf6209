"""The command table: every command ``dockyard`` has, its place in ``--help`` and the module that declares it.

Plain data, imported by every run: ``main`` looks the command word up here and builds only that
command's parser, and ``--help`` lists the table without building any. Usage lines and descriptions
are Docker CLI 28's (``docker COMMAND --help``). To add a command: a row in ``COMMANDS`` (and in
``SUBCOMMANDS`` for a management command's children) naming the module whose ``register(commands)``
declares it. tests/unit/test_cli_help.py checks the table against what the modules register.
"""

from __future__ import annotations

COMMON = "Common Commands"
MANAGEMENT = "Management Commands"
OTHER = "Commands"
GROUPS = (COMMON, MANAGEMENT, OTHER)

# name: (group, usage after "dockyard NAME", description, modules that declare it, in registration order)
COMMANDS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # Common Commands, in Docker's order
    "run": (COMMON, "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image", ("containers",)),
    "exec": (COMMON, "[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container", ("attach",)),
    "ps": (COMMON, "[OPTIONS]", "List containers", ("containers",)),
    "build": (COMMON, "[OPTIONS] PATH | URL | -", "Build an image from a Dockerfile", ("build",)),
    "pull": (COMMON, "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", ("registry_client",)),
    "push": (COMMON, "[OPTIONS] NAME[:TAG]", "Upload an image to a registry", ("registry_client",)),
    "images": (COMMON, "[OPTIONS] [REPOSITORY[:TAG]]", "List images", ("images",)),
    "login": (COMMON, "[OPTIONS] [SERVER]", "Authenticate to a registry.", ("registry_client",)),
    "logout": (COMMON, "[SERVER]", "Log out from a registry.", ("registry_client",)),
    "search": (COMMON, "[OPTIONS] TERM", "Search Docker Hub for images", ("registry_client",)),
    "version": (COMMON, "[OPTIONS]", "Show the Docker version information", ("version",)),
    "info": (COMMON, "[OPTIONS]", "Display system-wide information", ("system",)),
    # Management Commands
    "builder": (MANAGEMENT, "COMMAND", "Manage builds", ("build",)),
    "container": (MANAGEMENT, "COMMAND", "Manage containers",
                  ("containers", "container_logs", "attach", "networks", "lifecycle", "container_files", "container_group")),
    "image": (MANAGEMENT, "COMMAND", "Manage images", ("images", "registry_client", "build")),
    "manifest": (MANAGEMENT, "COMMAND", "Manage Docker image manifests and manifest lists", ("manifest",)),
    "network": (MANAGEMENT, "COMMAND", "Manage networks", ("networks",)),
    "registry": (MANAGEMENT, "COMMAND", "Run a registry server", ("registry_server",)),
    "system": (MANAGEMENT, "COMMAND", "Manage Docker", ("system", "events", "check", "system_service")),
    "volume": (MANAGEMENT, "COMMAND", "Manage volumes", ("volumes",)),
    # Commands
    "attach": (OTHER, "[OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container", ("attach",)),
    "commit": (OTHER, "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes", ("container_files",)),
    "cp": (OTHER, "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-", "Copy files/folders between a container and the local filesystem", ("container_files",)),
    "create": (OTHER, "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", ("containers",)),
    "diff": (OTHER, "CONTAINER", "Inspect changes to files or directories on a container's filesystem", ("container_files",)),
    "events": (OTHER, "[OPTIONS]", "Get real time events from the server", ("events",)),
    "export": (OTHER, "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive", ("container_files",)),
    "history": (OTHER, "[OPTIONS] IMAGE", "Show the history of an image", ("images",)),
    "import": (OTHER, "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a filesystem image", ("images",)),
    "inspect": (OTHER, "[OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on Docker objects", ("images", "containers")),
    "kill": (OTHER, "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers", ("lifecycle",)),
    "load": (OTHER, "[OPTIONS]", "Load an image from a tar archive or STDIN", ("images",)),
    "logs": (OTHER, "[OPTIONS] CONTAINER", "Fetch the logs of a container", ("container_logs",)),
    "pause": (OTHER, "CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", ("lifecycle",)),
    "port": (OTHER, "CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container", ("networks",)),
    "rename": (OTHER, "CONTAINER NEW_NAME", "Rename a container", ("lifecycle",)),
    "restart": (OTHER, "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers", ("lifecycle",)),
    "rm": (OTHER, "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", ("containers",)),
    "rmi": (OTHER, "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", ("images",)),
    "save": (OTHER, "[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by default)", ("images",)),
    "start": (OTHER, "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers", ("containers",)),
    "stats": (OTHER, "[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics", ("lifecycle",)),
    "stop": (OTHER, "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers", ("containers",)),
    "tag": (OTHER, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", ("images",)),
    "top": (OTHER, "CONTAINER [ps OPTIONS]", "Display the running processes of a container", ("lifecycle",)),
    "unpause": (OTHER, "CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", ("lifecycle",)),
    "update": (OTHER, "[OPTIONS] CONTAINER [CONTAINER...]", "Update configuration of one or more containers", ("lifecycle",)),
    "wait": (OTHER, "CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes", ("lifecycle",)),
}  # fmt: skip

# Commands the engine runs itself; never listed in help.
HIDDEN: dict[str, tuple[str, ...]] = {"container-monitor": ("containers",)}

# A management command's children: (usage, description, the top-level command it is, if it is one).
# Such a child is the top-level command's parser under a second name (its module declares both);
# the others come from the group's own modules.
SUBCOMMANDS: dict[str, dict[str, tuple[str, str, str | None]]] = {
    "image": {
        "build": ("[OPTIONS] PATH | URL | -", "Build an image from a Dockerfile", "build"),
        "history": ("[OPTIONS] IMAGE", "Show the history of an image", "history"),
        "import": ("[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a filesystem image", "import"),
        "inspect": ("[OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images", None),
        "load": ("[OPTIONS]", "Load an image from a tar archive or STDIN", "load"),
        "ls": ("[OPTIONS] [REPOSITORY[:TAG]]", "List images", "images"),
        "prune": ("[OPTIONS]", "Remove unused images", None),
        "pull": ("[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", "pull"),
        "push": ("[OPTIONS] NAME[:TAG]", "Upload an image to a registry", "push"),
        "rm": ("[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", "rmi"),
        "save": ("[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by default)", "save"),
        "tag": ("SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", "tag"),
    },
    "container": {
        "attach": ("[OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container", "attach"),
        "commit": ("[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes", "commit"),
        "cp": ("[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-", "Copy files/folders between a container and the local filesystem", "cp"),
        "create": ("[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", "create"),
        "diff": ("CONTAINER", "Inspect changes to files or directories on a container's filesystem", "diff"),
        "exec": ("[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container", "exec"),
        "export": ("[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive", "export"),
        "inspect": ("[OPTIONS] CONTAINER [CONTAINER...]", "Display detailed information on one or more containers", None),
        "kill": ("[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers", "kill"),
        "logs": ("[OPTIONS] CONTAINER", "Fetch the logs of a container", "logs"),
        "ls": ("[OPTIONS]", "List containers", "ps"),
        "pause": ("CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", "pause"),
        "port": ("CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container", "port"),
        "prune": ("[OPTIONS]", "Remove all stopped containers", None),
        "rename": ("CONTAINER NEW_NAME", "Rename a container", "rename"),
        "restart": ("[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers", "restart"),
        "rm": ("[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", "rm"),
        "run": ("[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image", "run"),
        "start": ("[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers", "start"),
        "stats": ("[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics", "stats"),
        "stop": ("[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers", "stop"),
        "top": ("CONTAINER [ps OPTIONS]", "Display the running processes of a container", "top"),
        "unpause": ("CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", "unpause"),
        "update": ("[OPTIONS] CONTAINER [CONTAINER...]", "Update configuration of one or more containers", "update"),
        "wait": ("CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes", "wait"),
    },
    "network": {
        "connect": ("[OPTIONS] NETWORK CONTAINER", "Connect a container to a network", None),
        "create": ("[OPTIONS] NETWORK", "Create a network", None),
        "disconnect": ("[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network", None),
        "inspect": ("[OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks", None),
        "ls": ("[OPTIONS]", "List networks", None),
        "prune": ("[OPTIONS]", "Remove all unused networks", None),
        "rm": ("NETWORK [NETWORK...]", "Remove one or more networks", None),
    },
    "volume": {
        "create": ("[OPTIONS] [VOLUME]", "Create a volume", None),
        "inspect": ("[OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes", None),
        "ls": ("[OPTIONS]", "List volumes", None),
        "prune": ("[OPTIONS]", "Remove unused local volumes", None),
        "rm": ("[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes", None),
    },
    "builder": {
        "build": ("[OPTIONS] PATH | URL | -", "Build an image from a Dockerfile", None),
        "prune": ("[OPTIONS]", "Remove build cache", None),
    },
    "registry": {
        "gc": ("[OPTIONS]", "Delete blobs no manifest uses", None),
        "serve": ("[OPTIONS]", "Serve a registry (OCI Distribution API)", None),
    },
    "system": {
        "check": ("[OPTIONS]", "Check the store's database, layers, content and mounts", None),
        "df": ("[OPTIONS]", "Show docker disk usage", None),
        "events": ("[OPTIONS]", "Get real time events from the server", None),
        "info": ("[OPTIONS]", "Display system-wide information", None),
        "prune": ("[OPTIONS]", "Remove unused data", None),
        "service": ("[OPTIONS] [URI]", "Run an API service", None),
    },
    "manifest": {
        "inspect": ("[OPTIONS] [MANIFEST_LIST] MANIFEST", "Display an image manifest, or manifest list", None),
    },
}  # fmt: skip

# Other names of a command (Docker's "Aliases:" section), keyed by the command's path.
ALIASES: dict[str, tuple[str, ...]] = {
    "images": ("image ls", "image list", "images"),
    "rmi": ("image rm", "image remove", "rmi"),
    "ps": ("container ls", "container list", "container ps", "ps"),
    "rm": ("container rm", "container remove", "rm"),
    "build": ("image build", "build", "builder build"),
    "info": ("system info", "info"),
    "events": ("system events", "events"),
    "network ls": ("network ls", "network list"),
    "network rm": ("network rm", "network remove"),
    "volume ls": ("volume ls", "volume list"),
    "volume rm": ("volume rm", "volume remove"),
}
for _name in ("history", "import", "load", "pull", "push", "save", "tag"):
    ALIASES[_name] = (f"image {_name}", _name)
for _name, (_, _, _top) in SUBCOMMANDS["container"].items():
    if _top == _name:
        ALIASES[_name] = (f"container {_name}", _name)
for _group, _children in SUBCOMMANDS.items():
    for _name, (_, _, _top) in _children.items():
        if _top in ALIASES:
            ALIASES[f"{_group} {_name}"] = ALIASES[_top]

_CHILD_ALIASES = {"list": "ls", "remove": "rm"}


def child(group: str, word: str | None) -> str | None:
    """The child of management command ``group`` that ``word`` names (resolving Docker's second names)."""
    if word is None:
        return None
    children = SUBCOMMANDS.get(group, {})
    name = "ls" if group == "container" and word == "ps" else _CHILD_ALIASES.get(word, word)
    return name if name in children else None
