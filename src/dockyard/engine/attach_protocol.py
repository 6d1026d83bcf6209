"""The attach stream's wire protocol and terminal sizing, as a face speaks them over
``ContainerService.start_attached``/``connect`` (frames, HELLO, resize, the exit frame)."""

from dockyard.runtime.attach import MAX_FRAME, FrameReader, Kind, NotAttachableError, exit_code, frame, hello, resize
from dockyard.runtime.console import get_size, set_size

__all__ = ["MAX_FRAME", "FrameReader", "Kind", "NotAttachableError", "exit_code", "frame", "get_size", "hello", "resize",
           "set_size"]
