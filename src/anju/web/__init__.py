"""The web portal (issue 5): server-rendered pages in Chinese and English over the node's state."""

from anju.web.portal import Portal, mount_web

__all__ = ["Portal", "mount_web"]
