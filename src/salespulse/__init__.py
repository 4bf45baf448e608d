"""salespulse — sales KPIs for B2B sales teams, from CRM data to dashboards.

Python API: ``salespulse.open(db)`` returns a :class:`~salespulse.api.SalesPulse`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from salespulse.api import SalesPulse
    from salespulse.settings import Settings

__version__ = "0.1.0"


def open(db: str | Path | None = None, settings: Settings | None = None) -> SalesPulse:
    """Open a salespulse database (default: the workspace database); see
    :class:`salespulse.api.SalesPulse`. Imported lazily so that ``import salespulse`` is
    quick."""
    from salespulse.api import open as _open

    return _open(db, settings)
