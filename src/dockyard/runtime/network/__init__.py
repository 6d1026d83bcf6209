"""Container networks on the CNI plugins: see ``store`` (networks; their rows are ``metadata.networks``),
``sandbox`` (a container's namespace and interface), ``ports``, ``hosts`` (name resolution),
``attachment`` (what ``ContainerStore`` calls) and ``records`` (what a container's network files say,
read by ``ps``, ``inspect`` and ``port`` without the rest)."""
