"""The data root's files: their layout, atomic writes, and the mirror of a root on object storage.

Owns the layout of a data root (every path under it, with the ids that become path parts validated:
:mod:`.layout`), atomic writes (temp file in the same folder, fsync, ``os.replace``: :mod:`.atomic`) and the
local mirror of a data root on object storage (:mod:`.remote`). May import ``features.frame`` (ticker
validation) and ``features.settings``; never the rest of ``features``, ``models`` or ``flows``.
"""
