"""A row-level cache of teacher attributions.

Attributions are stored per row, under a key made of the teacher's fingerprint
and every setting that changes them. Cross-validation folds and the candidates
of a search share most of their training rows, so a row-level cache explains
each row once for a given frozen teacher, even when no two fits see the same
set of rows.

Without a location the cache lives in the process, holding the attributions of
the few most recent keys. With a location it also writes one file per batch
of newly explained rows, so several processes (``n_jobs`` in a search) can
share it: each writes its own files and never rewrites another's.
"""

# License: BSD-3-Clause

import os
import uuid
from collections import OrderedDict

import numpy as np
import pandas as pd
from joblib.hashing import NumpyHasher
from numpy.lib import recfunctions

# Keys kept in the in-process cache. Each contains a few MB for a
# sample of a few thousand rows.
# NOTE: rows per key are not limited: explain_teacher on 195,000 rows of 14
# columns kept about 130 MB until the key was evicted.
_MAX_KEYS_IN_PROCESS = 16
_IN_PROCESS = OrderedDict()


def row_hashes(X):
    """Return one 64-bit hash per row of X, from the row's values alone."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)


class _PaddingBlindHasher(NumpyHasher):
    """joblib's hasher, applied to structured arrays without their padding bytes.

    scikit-learn's tree nodes are a structured array whose padding bytes are
    not initialised, so ``joblib.hash`` gives a fitted tree a different value
    each time it is unpickled, and a cache keyed on it would never be hit by
    another process.
    """

    def save(self, obj):
        if isinstance(obj, np.ndarray) and obj.dtype.fields is not None:
            obj = recfunctions.repack_fields(obj)
        super().save(obj)


def fingerprint(*objects):
    """Return a hash of fitted objects and settings, stable across processes."""
    return _PaddingBlindHasher(hash_name="md5").hash(objects)


def cache_location(memory):
    """Return the folder of a ``memory`` argument, or None when it has none."""
    if memory is None:
        return None
    if isinstance(memory, (str, os.PathLike)):
        return os.fspath(memory)
    location = getattr(memory, "location", None)
    if location is None:
        return None
    return os.fspath(location)


class AttributionCache:
    """Row-level store of attribution arrays for one key.

    Parameters
    ----------
    key : str
        Fingerprint of the teacher and the attribution settings.
    location : str or None
        Folder of the on-disk cache; ``None`` keeps the cache in the process.
    """

    def __init__(self, key, location=None):
        self.key = key
        self.folder = None
        if location is not None:
            self.folder = os.path.join(location, "skdixtill-attributions", key)
        self._rows = _IN_PROCESS.setdefault(key, {})
        _IN_PROCESS.move_to_end(key)
        while len(_IN_PROCESS) > _MAX_KEYS_IN_PROCESS:
            _IN_PROCESS.popitem(last=False)
        self._read_folder()

    def _read_folder(self):
        if self.folder is None or not os.path.isdir(self.folder):
            return
        for name in sorted(os.listdir(self.folder)):
            if not name.endswith(".npz") or name.endswith(".tmp.npz"):
                continue
            with np.load(os.path.join(self.folder, name)) as chunk:
                for row_hash, values in zip(
                    chunk["hashes"], chunk["values"], strict=True
                ):
                    self._rows.setdefault(int(row_hash), values)

    def get(self, hashes):
        """Return (found, values) for the rows with these hashes.

        ``found`` is a boolean mask; ``values`` contains the cached arrays of the
        found rows, in the order of ``hashes[found]``.
        """
        found = np.array([int(h) in self._rows for h in hashes], dtype=bool)
        values = [self._rows[int(h)] for h in hashes[found]]
        return found, values

    def put(self, hashes, values):
        """Store the arrays of newly explained rows."""
        for row_hash, row_values in zip(hashes, values, strict=True):
            self._rows[int(row_hash)] = row_values
        if self.folder is None or len(hashes) == 0:
            return
        os.makedirs(self.folder, exist_ok=True)
        name = f"chunk-{uuid.uuid4().hex}"
        temporary = os.path.join(self.folder, name + ".tmp.npz")
        np.savez(temporary, hashes=np.asarray(hashes, dtype=np.uint64), values=values)
        # The rename is atomic, so readers never see a half-written chunk.
        os.replace(temporary, os.path.join(self.folder, name + ".npz"))


def clear_in_process_cache():
    """Forget every attribution cached in this process."""
    _IN_PROCESS.clear()
