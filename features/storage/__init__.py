"""Files that must never be seen half-written, locally and on object storage.

Owns atomic writes (temp file in the same folder, fsync, ``os.replace``: :mod:`.atomic`) and the local
mirror of a data root on object storage (:mod:`.remote`). Knows nothing about what the files hold:
imports nothing from ``features`` outside this package, and never ``models`` or ``flows``.
"""
