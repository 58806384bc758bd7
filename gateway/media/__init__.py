"""Media the gateway keeps: camera snapshots and clips, by id, bounded by the site file's
``media:`` caps (``config.Media``), served by the console at ``/media/<id>``; and the cameras'
live views the console proxies (``live.LiveViews``)."""

from gateway.media.config import LiveView, Media
from gateway.media.live import LiveRefused, LiveViews, Viewer
from gateway.media.store import MediaRefused, MediaStore, StoredMedia, base_url_of

__all__ = ["LiveRefused", "LiveView", "LiveViews", "Media", "MediaRefused", "MediaStore",
           "StoredMedia", "Viewer", "base_url_of"]
