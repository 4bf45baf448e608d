-- call_email_balance by rep and local month, as of $as_of: calls / (calls + e-mails)
-- logged; a rep's month with other activity but no call or e-mail has no value.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
n AS (  -- the figures per rep, then the rep's name
    SELECT a.rep_id AS rep,
           date_trunc('month', timezone($tz, timezone('UTC', a.occurred_at)))::DATE AS period,
           count(*) FILTER (WHERE a.activity_type = 'call')::DOUBLE AS numerator,
           count(*) FILTER (WHERE a.activity_type IN ('call', 'email'))::DOUBLE AS denominator,
           numerator / nullif(denominator, 0) AS value
    FROM activities a, cut
    WHERE a.occurred_at < cut.at
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
