-- call_email_balance by rep and local month, as of $as_of: calls / (calls + e-mails)
-- logged; a rep's month with other activity but no call or e-mail has no value.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
)
SELECT a.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       date_trunc('month', timezone($tz, timezone('UTC', a.occurred_at)))::DATE AS period,
       count(*) FILTER (WHERE a.activity_type = 'call')::DOUBLE AS numerator,
       count(*) FILTER (WHERE a.activity_type IN ('call', 'email'))::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM activities a CROSS JOIN cut LEFT JOIN reps r USING (rep_id)
WHERE a.occurred_at < cut.at
GROUP BY ALL
