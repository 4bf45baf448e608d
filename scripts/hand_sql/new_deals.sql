-- new_deals by rep and month, as of $as_of: the deals created by then, by the local month
-- they were created in.
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
)
SELECT date_trunc('month', timezone($tz, timezone('UTC', d.created_at)))::DATE AS period,
       d.owner_rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*)::DOUBLE AS value
FROM deals d CROSS JOIN cut LEFT JOIN reps r ON r.rep_id = d.owner_rep_id
WHERE d.created_at < cut.at
GROUP BY ALL
