-- new_leads by rep (the owner as known at $as_of) and fiscal quarter of the local creation
-- date, as of $as_of: leads created.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
lead AS (
    SELECT CASE WHEN l.assigned_at IS NULL OR l.assigned_at < cut.at THEN l.owner_rep_id END AS rep_id,
           l.created_at
    FROM leads l, cut
    WHERE l.created_at < cut.at
),
n AS (  -- the figures per rep, then the rep's name
    SELECT (date_trunc('quarter', timezone($tz, timezone('UTC', l.created_at)) - to_months($fiscal_shift))
            + to_months($fiscal_shift))::DATE AS period,
           l.rep_id AS rep,
           count(*)::DOUBLE AS value
    FROM lead l
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
