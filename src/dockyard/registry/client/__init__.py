"""The registry client: transport, auth, credentials, pull, push, search.

Modules, leaves first: ``transport`` (pooled HTTP, retries, redirects),
``auth`` (challenges, tokens), ``hosts`` (endpoints, mirrors, TLS),
``session`` (a pinged registry, typed errors), ``repository`` (the API
calls), ``credentials`` (Docker's config.json and helpers), ``platform``,
``download`` (resumable, shared blob downloads), ``resolve``, ``pull``,
``layerblob`` and ``push``, ``login``, ``search``, ``manifests`` (``manifest
inspect``). Nothing here reads configuration or prints: the engine's registry
service wires it, and progress leaves as ``progress.Event`` data.
"""
