"""Container networks on the CNI plugins: see ``store`` (networks), ``sandbox`` (a container's
namespace and interface), ``ports``, ``hosts`` (name resolution) and ``attachment`` (what
``ContainerStore`` calls)."""
