"""Storage: the drivers' layer directories (``driver``, ``overlay2``, ``vfs``), the snapshotters that own
active layers over them (``snapshotter``: the protocol and their shared base; ``overlay2_snapshotter``,
``vfs_snapshotter``), the layer store (``layers``: chain IDs, tar-split, parallel
apply), the differ (``changes``, ``treediff``), mounts as data (``mount``) and inspect's GraphDriver
(``graph``)."""
