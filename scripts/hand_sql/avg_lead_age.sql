-- avg_lead_age by rep (the owner as known at $as_of), as of $as_of: mean age in days (to
-- the end of that local day) of the active leads: created, not disqualified and without a
-- deal by then.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
with_deal AS (
    SELECT DISTINCT d.lead_id FROM deals d, cut
    WHERE d.created_at < cut.at AND d.lead_id IS NOT NULL
),
active AS (
    SELECT CASE WHEN l.assigned_at IS NULL OR l.assigned_at < cut.at THEN l.owner_rep_id END AS rep_id,
           (epoch(cut.at) - epoch(l.created_at)) / 86400.0 AS age
    FROM leads l CROSS JOIN cut
    WHERE l.created_at < cut.at
      AND (l.disqualified_at IS NULL OR l.disqualified_at >= cut.at)
      AND l.lead_id NOT IN (SELECT lead_id FROM with_deal)
),
n AS (  -- the figures per rep, then the rep's name
    SELECT a.rep_id AS rep,
           sum(a.age) AS numerator,
           count(*)::DOUBLE AS denominator,
           numerator / denominator AS value
    FROM active a
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
