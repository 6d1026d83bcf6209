"""Docker CLI 28's description of each flag, for the flags dockyard declares without help text.

Data for ``--help`` only (``cli.help`` reads it); taken from ``docker COMMAND --help``. ``create``
shares ``run``'s flags and their descriptions.
"""

from __future__ import annotations

FLAG_HELP: dict[str, dict[str, str]] = {
    "attach": {
        "detach-keys": "Override the key sequence for detaching a container",
        "no-stdin": "Do not attach STDIN",
        "sig-proxy": "Proxy all received signals to the process",
    },
    "commit": {
        "author": "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")",
        "change": "Apply Dockerfile instruction to the created image",
        "message": "Commit message",
        "pause": "Pause container during commit",
    },
    "container inspect": {
        "format": "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
        "size": "Display total file sizes",
    },
    "container prune": {
        "filter": "Provide filter values (e.g. \"until=<timestamp>\")",
        "force": "Do not prompt for confirmation",
    },
    "cp": {
        "archive": "Archive mode (copy all uid/gid information)",
        "follow-link": "Always follow symbol link in SRC_PATH",
        "quiet": "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached",
    },
    "exec": {
        "detach": "Detached mode: run command in the background",
        "detach-keys": "Override the key sequence for detaching a container",
        "env": "Set environment variables",
        "env-file": "Read in a file of environment variables",
        "interactive": "Keep STDIN open even if not attached",
        "privileged": "Give extended privileges to the command",
        "tty": "Allocate a pseudo-TTY",
        "user": "Username or UID (format: \"<name|uid>[:<group|gid>]\")",
        "workdir": "Working directory inside the container",
    },
    "export": {
        "output": "Write to a file, instead of STDOUT",
    },
    "kill": {
        "signal": "Signal to send to the container",
    },
    "logs": {
        "details": "Show extra details provided to logs",
        "follow": "Follow log output",
        "since": "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)",
        "tail": "Number of lines to show from the end of the logs",
        "timestamps": "Show timestamps",
        "until": "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)",
    },
    "network connect": {
        "alias": "Add network-scoped alias for the container",
    },
    "network create": {
        "attachable": "Enable manual container attachment",
        "driver": "Driver to manage the Network",
        "gateway": "IPv4 or IPv6 Gateway for the master subnet",
        "internal": "Restrict external access to the network",
        "label": "Set metadata on a network",
        "subnet": "Subnet in CIDR format that represents a network segment",
    },
    "network disconnect": {
        "force": "Force the container to disconnect from a network",
    },
    "network inspect": {
        "format": "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
        "verbose": "Verbose output for diagnostics",
    },
    "network ls": {
        "filter": "Provide filter values (e.g. \"driver=bridge\")",
        "format": "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
        "no-trunc": "Do not truncate the output",
        "quiet": "Only display network IDs",
    },
    "network prune": {
        "filter": "Provide filter values (e.g. \"until=<timestamp>\")",
        "force": "Do not prompt for confirmation",
    },
    "network rm": {
        "force": "Do not error if the network does not exist",
    },
    "ps": {
        "all": "Show all containers",
        "filter": "Filter output based on conditions provided",
        "format": "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
        "last": "Show n last created containers (includes all states)",
        "latest": "Show the latest created container (includes all states)",
        "no-trunc": "Don't truncate output",
        "quiet": "Only display container IDs",
        "size": "Display total file sizes",
    },
    "rm": {
        "force": "Force the removal of a running container (uses SIGKILL)",
        "volumes": "Remove anonymous volumes associated with the container",
    },
    "run": {
        "add-host": "Add a custom host-to-IP mapping (host:ip)",
        "cap-add": "Add Linux capabilities",
        "cap-drop": "Drop Linux capabilities",
        "cpu-shares": "CPU shares (relative weight)",
        "cpus": "Number of CPUs",
        "detach": "Run container in background and print container ID",
        "detach-keys": "Override the key sequence for detaching a container",
        "entrypoint": "Overwrite the default ENTRYPOINT of the image",
        "env": "Set environment variables",
        "env-file": "Read in a file of environment variables",
        "expose": "Expose a port or a range of ports",
        "help": "Print usage",
        "hostname": "Container host name",
        "init": "Run an init inside the container that forwards signals and reaps processes",
        "interactive": "Keep STDIN open even if not attached",
        "ip": "IPv4 address (e.g., 172.30.100.104)",
        "label": "Set meta data on a container",
        "label-file": "Read in a line delimited file of labels",
        "memory": "Memory limit",
        "memory-swap": "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
        "mount": "Attach a filesystem mount to the container",
        "name": "Assign a name to the container",
        "network": "Connect a container to a network",
        "network-alias": "Add network-scoped alias for the container",
        "pids-limit": "Tune container pids limit (set -1 for unlimited)",
        "privileged": "Give extended privileges to this container",
        "publish": "Publish a container's port(s) to the host",
        "publish-all": "Publish all exposed ports to random ports",
        "read-only": "Mount the container's root filesystem as read only",
        "restart": "Restart policy to apply when a container exits",
        "rm": "Automatically remove the container and its associated anonymous volumes when it exits",
        "runtime": "Runtime to use for this container",
        "security-opt": "Security Options",
        "sig-proxy": "Proxy received signals to the process",
        "stop-signal": "Signal to stop the container",
        "stop-timeout": "Timeout (in seconds) to stop a container",
        "tty": "Allocate a pseudo-TTY",
        "user": "Username or UID (format: <name|uid>[:<group|gid>])",
        "volume": "Bind mount a volume",
        "workdir": "Working directory inside the container",
    },
    "start": {
        "attach": "Attach STDOUT/STDERR and forward signals",
        "detach-keys": "Override the key sequence for detaching a container",
        "interactive": "Attach container's STDIN",
    },
    "stats": {
        "all": "Show all containers",
        "format": "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
        "no-stream": "Disable streaming stats and only pull the first result",
        "no-trunc": "Do not truncate output",
    },
    "update": {
        "cpu-shares": "CPU shares (relative weight)",
        "cpus": "Number of CPUs",
        "memory": "Memory limit",
        "memory-swap": "Swap limit equal to memory plus swap: -1 to enable unlimited swap",
        "pids-limit": "Tune container pids limit (set -1 for unlimited)",
        "restart": "Restart policy to apply when a container exits",
    },
    "volume create": {
        "driver": "Specify volume driver name",
        "label": "Set metadata for a volume",
        "opt": "Set driver specific options",
    },
    "volume inspect": {
        "format": "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
    },
    "volume ls": {
        "filter": "Provide filter values (e.g. \"dangling=true\")",
        "format": "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
        "quiet": "Only display volume names",
    },
    "volume prune": {
        "filter": "Provide filter values (e.g. \"label=<label>\")",
        "force": "Do not prompt for confirmation",
    },
    "volume rm": {
        "force": "Force the removal of one or more volumes",
    },
}  # fmt: skip
FLAG_HELP["create"] = FLAG_HELP["run"]
