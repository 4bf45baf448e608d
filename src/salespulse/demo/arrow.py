"""Numpy -> Arrow helpers: ids, nullable timestamps and dates, lookups."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

#: Missing timestamp / day / index in int64 arrays.
NA = np.iinfo(np.int64).min


def ids(prefix: str, numbers: npt.NDArray[np.int64], width: int) -> pa.Array:
    """``prefix`` + zero-padded number; negative numbers become null."""
    arr = pa.array(numbers, type=pa.int64(), mask=numbers < 0)
    padded = pc.utf8_lpad(arr.cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, padded, "")


def take(values: pa.Array | Sequence[str], index: npt.NDArray[np.int64]) -> pa.Array:
    """``values[index]``; negative indexes become null."""
    arr = values if isinstance(values, pa.Array) else pa.array(list(values), type=pa.string())
    return arr.take(pa.array(index, type=pa.int64(), mask=index < 0))


def timestamps(t: npt.NDArray[np.int64]) -> pa.Array:
    """Seconds since 1970 (UTC) as a naive timestamp column; :data:`NA` becomes null."""
    mask = t == NA
    return pa.array(np.where(mask, 0, t).astype("datetime64[s]"), mask=mask)


def dates(days: npt.NDArray[np.int64]) -> pa.Array:
    """Day numbers since 1970 as a date column; :data:`NA` becomes null."""
    mask = days == NA
    return pa.array(np.where(mask, 0, days).astype(np.int32), type=pa.int32(), mask=mask).cast(
        pa.date32()
    )


def join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Element-wise string concatenation."""
    return pc.binary_join_element_wise(*parts, sep)


def floats(x: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    return pa.array(x, type=pa.float64(), mask=mask)
