"""Content-addressed objects: hashes, codecs, packs and their index, manifests.

The names below load on first use, so that importing one module of this package (``hashing``) does not
load the codecs and the store."""

from typing import TYPE_CHECKING

from satchel.lazy import lazy_names

if TYPE_CHECKING:
    from satchel.objects.codec import Codec, resolve_compression
    from satchel.objects.hashing import hash_bytes, hash_file
    from satchel.objects.manifest import (
        Manifest,
        ManifestEntry,
        link_id,
        make_link,
        source_matches,
        split_link,
    )
    from satchel.objects.packs import Location, PackBuilder
    from satchel.objects.store import ObjectStore

__getattr__ = lazy_names(__name__, {
    "Codec": "codec", "resolve_compression": "codec", "hash_bytes": "hashing", "hash_file": "hashing",
    "Manifest": "manifest", "ManifestEntry": "manifest", "link_id": "manifest", "make_link": "manifest",
    "source_matches": "manifest", "split_link": "manifest", "Location": "packs", "PackBuilder": "packs",
    "ObjectStore": "store"})

__all__ = [
    "Codec",
    "Location",
    "Manifest",
    "ManifestEntry",
    "ObjectStore",
    "PackBuilder",
    "hash_bytes",
    "hash_file",
    "link_id",
    "make_link",
    "resolve_compression",
    "source_matches",
    "split_link",
]
