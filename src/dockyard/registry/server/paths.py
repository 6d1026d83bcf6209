"""Where the registry keeps things in its storage: the layout, as pure functions.

::

    /blobs/<alg>/<hex[:2]>/<hex>/data            every blob and manifest, once, by digest
    /repositories/<name>/                        <name> may have several components
        _layers/<alg>/<hex>/link                 the blob is in this repository (mounted or pushed)
        _manifests/revisions/<alg>/<hex>/link    a manifest of this repository: {"mediaType": ...}
        _manifests/tags/<tag>/current/link       the digest the tag points at
        _manifests/tags/<tag>/checked            (pull-through) when the tag was last validated upstream
        _referrers/<alg>/<subject-hex>/<alg>-<hex>   a referrer of the subject: its descriptor as JSON
        _uploads/<uuid>/data                     bytes received so far
        _uploads/<uuid>/startedat                RFC 3339 time the upload began
        _uploads/<uuid>/lock                     held while a request appends or commits
    /tmp/                                        temporary files of atomic writes

Repository components never start with "_" (the name grammar forbids it), so
the reserved directories cannot collide with a repository. Blobs are shared by
all repositories; a repository sees only the blobs it links.
"""

from __future__ import annotations

from dockyard.oci.digest import Digest

BLOBS = "/blobs"
REPOSITORIES = "/repositories"
RESERVED_PREFIX = "_"


def blob_data(digest: Digest) -> str:
    return f"{BLOBS}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}/data"


def blob_dir(digest: Digest) -> str:
    return f"{BLOBS}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def repository(name: str) -> str:
    return f"{REPOSITORIES}/{name}"


def layer_link(name: str, digest: Digest) -> str:
    return f"{REPOSITORIES}/{name}/_layers/{digest.algorithm}/{digest.hex}/link"


def layers_dir(name: str) -> str:
    return f"{REPOSITORIES}/{name}/_layers"


def manifests_dir(name: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests"


def revisions_dir(name: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/revisions"


def revision_link(name: str, digest: Digest) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/revisions/{digest.algorithm}/{digest.hex}/link"


def revision_dir(name: str, digest: Digest) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/revisions/{digest.algorithm}/{digest.hex}"


def tags_dir(name: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/tags"


def tag_dir(name: str, tag: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}"


def tag_link(name: str, tag: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}/current/link"


def tag_checked(name: str, tag: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}/checked"


def referrers_dir(name: str, subject: Digest) -> str:
    return f"{REPOSITORIES}/{name}/_referrers/{subject.algorithm}/{subject.hex}"


def referrer_entry(name: str, subject: Digest, referrer: Digest) -> str:
    return f"{referrers_dir(name, subject)}/{referrer.algorithm}-{referrer.hex}"


def uploads_dir(name: str) -> str:
    return f"{REPOSITORIES}/{name}/_uploads"


def upload_dir(name: str, upload_id: str) -> str:
    return f"{REPOSITORIES}/{name}/_uploads/{upload_id}"


def upload_data(name: str, upload_id: str) -> str:
    return f"{upload_dir(name, upload_id)}/data"


def upload_started(name: str, upload_id: str) -> str:
    return f"{upload_dir(name, upload_id)}/startedat"


def upload_lock(name: str, upload_id: str) -> str:
    return f"{upload_dir(name, upload_id)}/lock"


def upload_hashstate(name: str, upload_id: str, offset: int) -> str:
    """The running SHA-256 after ``offset`` bytes (Distribution keeps its states at the same place)."""
    return f"{upload_dir(name, upload_id)}/hashstates/sha256/{offset}"


def auth_key() -> str:
    return "/_auth/token-signing-key.pem"
