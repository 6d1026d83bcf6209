"""The registry server: the OCI Distribution API over a content-addressed storage.

Modules, from the bottom up: ``storage`` (driver interface, filesystem backend,
checking wrapper), ``paths`` (the layout), ``routes`` (URL parsing),
``manifests`` (what a pushed document references), ``registry`` (repositories
over storage), ``uploads`` (sessions kept in storage), ``auth``, ``search``,
``proxy`` (pull-through cache), ``gc``, and ``app``/``api_*``/``serve`` (HTTP).
"""
