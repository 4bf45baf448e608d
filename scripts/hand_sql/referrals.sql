-- referrals by rep (the lead's owner as known at $as_of) and fiscal quarter of the local
-- creation date, as of $as_of: of the referred leads created, those whose referring
-- account had a contract (signed by $as_of) running on the lead's (UTC) creation day.
-- A quarter with referred leads but none from a customer shows 0.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
referred AS (
    SELECT l.lead_id, l.referring_account_id AS account_id, l.created_at,
           CASE WHEN l.assigned_at IS NULL OR l.assigned_at < cut.at THEN l.owner_rep_id END AS rep_id
    FROM leads l, cut
    WHERE l.created_at < cut.at AND l.referring_account_id IS NOT NULL
),
from_customer AS (
    SELECT DISTINCT f.lead_id
    FROM referred f JOIN contracts c USING (account_id)
    WHERE c.signed_on <= $as_of
      AND c.start_on <= f.created_at::DATE AND (c.end_on IS NULL OR c.end_on >= f.created_at::DATE)
),
n AS (  -- the figures per rep, then the rep's name
    SELECT (date_trunc('quarter', timezone($tz, timezone('UTC', f.created_at)) - to_months($fiscal_shift))
            + to_months($fiscal_shift))::DATE AS period,
           f.rep_id AS rep,
           count(c.lead_id)::DOUBLE AS value
    FROM referred f LEFT JOIN from_customer c USING (lead_id)
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
