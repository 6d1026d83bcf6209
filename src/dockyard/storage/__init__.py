"""Storage drivers (overlay2, vfs) and the layer store built on them."""
