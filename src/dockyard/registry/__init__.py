"""The registry protocol: one error-code table, a client and a server."""
