"""dockyard: Docker's image and container management."""

__version__ = "0.1.0"
