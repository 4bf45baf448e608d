-- meetings by rep and local month, as of $as_of: meetings logged (held or not);
-- a rep's month with other activity but none of these shows 0.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
n AS (  -- the figures per rep, then the rep's name
    SELECT a.rep_id AS rep,
           date_trunc('month', timezone($tz, timezone('UTC', a.occurred_at)))::DATE AS period,
           count(*) FILTER (WHERE a.activity_type = 'meeting')::DOUBLE AS value
    FROM activities a, cut
    WHERE a.occurred_at < cut.at
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
