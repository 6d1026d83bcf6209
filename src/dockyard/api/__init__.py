"""The Docker Engine API face: HTTP routes and JSON over the engine services.

A second face beside ``cli``: it translates Docker's JSON into the engine's typed options and the
engine's reports back into Docker's JSON, and never builds a service or a document the engine has.
``http`` (requests and responses), ``router`` (the route table, versions, errors -> status),
``server`` (listening sockets, connections, idle exit), and one module of routes per resource.
"""
