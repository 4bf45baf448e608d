-- emails by rep and local month, as of $as_of: e-mails logged (sent and received);
-- a rep's month with other activity but none of these shows 0.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
)
SELECT a.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       date_trunc('month', timezone($tz, timezone('UTC', a.occurred_at)))::DATE AS period,
       count(*) FILTER (WHERE a.activity_type = 'email')::DOUBLE AS value
FROM activities a CROSS JOIN cut LEFT JOIN reps r USING (rep_id)
WHERE a.occurred_at < cut.at
GROUP BY ALL
