"""Content-addressed objects: hashes, codecs, packs and their index, manifests."""

from satchel.objects.codec import Codec, resolve_compression
from satchel.objects.hashing import hash_bytes, hash_file
from satchel.objects.manifest import Manifest, ManifestEntry, link_id, make_link, source_matches, split_link
from satchel.objects.packs import Location, PackBuilder
from satchel.objects.store import ObjectStore

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
