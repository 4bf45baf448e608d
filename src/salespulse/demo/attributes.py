"""Custom attributes of the demo data: fields a real CRM export carries beyond the model.

Deals get a ``contract_type`` (purchase 70 %, lease 20 %, rental 10 %); web-form leads a
``landing_page`` (the product page they came from). Both are noise with respect to the
planted patterns: they exist so that imports, ``salespulse info`` and breakdowns by custom
attribute have something real-looking to show.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CONTRACT_TYPES = ("purchase", "lease", "rental")
LANDING_PAGES = ("/machines", "/parts", "/service", "/contact")


def attributes_table(tables: dict[str, pa.Table], rng: np.random.Generator) -> pa.Table:
    """``custom_attributes`` rows for the deals and leads of one chunk."""
    deal_ids = tables["deals"]["deal_id"]
    kinds = rng.choice(len(CONTRACT_TYPES), len(deal_ids), p=[0.7, 0.2, 0.1])
    leads = tables["leads"]
    web = leads.filter(pc.equal(leads["channel"], "web_form"))["lead_id"]
    pages = rng.choice(len(LANDING_PAGES), len(web), p=[0.45, 0.2, 0.25, 0.1])
    n_d, n_l = len(deal_ids), len(web)
    return pa.table(
        {
            "record_table": pa.array(["deals"] * n_d + ["leads"] * n_l, pa.string()),
            "record_id": pa.concat_arrays(
                [
                    deal_ids.combine_chunks().cast(pa.string()),
                    web.combine_chunks().cast(pa.string()),
                ]
            ),
            "name": pa.array(["contract_type"] * n_d + ["landing_page"] * n_l, pa.string()),
            "value": pa.array(
                [CONTRACT_TYPES[i] for i in kinds] + [LANDING_PAGES[i] for i in pages], pa.string()
            ),
        }
    )
