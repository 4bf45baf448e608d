-- clv_lifespan_years as of $as_of: over the accounts with a contract signed by then, the
-- mean years (365.25 days) from their first contract's start to $as_of when a contract
-- runs on $as_of, else to their last contract's end (open-ended: $as_of; at most $as_of);
-- never below 0.
WITH account AS (
    SELECT account_id, min(start_on) AS first_on,
           CASE WHEN bool_or(start_on <= $as_of AND coalesce(end_on, $as_of) >= $as_of) THEN $as_of::DATE
                ELSE least(max(coalesce(end_on, $as_of)), $as_of) END AS until
    FROM contracts WHERE signed_on <= $as_of
    GROUP BY account_id
)
SELECT sum(greatest((until - first_on) / 365.25, 0.0)) AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM account
