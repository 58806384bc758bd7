"""Media the gateway keeps: camera snapshots and clips, by id, bounded by the site file's
``media:`` caps (``config.Media``), served by the console at ``/media/<id>``."""

from gateway.media.config import Media
from gateway.media.store import MediaRefused, MediaStore, StoredMedia, base_url_of

__all__ = ["Media", "MediaRefused", "MediaStore", "StoredMedia", "base_url_of"]
