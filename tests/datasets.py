"""Where the third-party sample data lives (never copied into the repository).

``$SALESPULSE_DATASETS`` if set, else ``../shared/datasets`` next to the repository, else
``/work/shared/datasets`` (where the data sits on the team's machines, so that a checkout
in another folder — such as CI's — still finds it). Tests pass the folder explicitly
(``--data-dir``), so they do not depend on where the checkout is.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _find() -> Path:
    candidates = [
        os.environ.get("SALESPULSE_DATASETS", ""),
        str(REPO.parent / "shared" / "datasets"),
        "/work/shared/datasets",
    ]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return REPO.parent / "shared" / "datasets"


DATASETS = _find()
MAVEN = DATASETS / "maven-crm"
SALESFORCE = DATASETS / "salesforce-sample"
