"""Restricted unpickling for the official CIFAR python pickles.

The files hold dicts of str/bytes/int lists and one NumPy uint8 array, pickled through
``numpy.core.multiarray._reconstruct``. Only the globals needed to rebuild that are allowed;
anything else (e.g. ``os.system``) is refused before it can run.
"""

from __future__ import annotations

import pickle

from .archives import DataError

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "object"),
    ("_codecs", "encode"),  # how Python 3 writes bytes in a protocol-2 pickle (our fixtures)
    ("builtins", "object"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a dataset pickle")
        return super().find_class(module, name)


def load_pickle(path) -> dict:
    """Load a CIFAR pickle (latin1 strings), refusing any code-executing global."""
    try:
        with open(path, "rb") as fh:
            obj = _RestrictedUnpickler(fh, encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path}: refused to load ({exc}); the file is not an official CIFAR pickle") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, got {type(obj).__name__}; not an official CIFAR pickle")
    return obj
