-- new_customers for the fiscal year up to $as_of: accounts whose first contract date
-- (signing or start, whichever came first) lies in the year up to $as_of and that are a
-- customer on $as_of. A customer on a day has a contract running that day or signed in the
-- $window_days days up to it (contracts signed after $as_of are not known yet).
WITH year AS (
    SELECT (date_trunc('year', $as_of::DATE - to_months($fiscal_shift))
            + to_months($fiscal_shift))::DATE AS first_day
),
contract AS (SELECT * FROM contracts WHERE signed_on <= $as_of),
account AS (
    SELECT c.account_id,
           min(least(c.signed_on, c.start_on)) AS first_on,
           bool_or((c.start_on <= $as_of AND coalesce(c.end_on >= $as_of, true))
                   OR (c.signed_on <= $as_of AND c.signed_on > $as_of::DATE - $window_days::INTEGER))
               AS at_end
    FROM contract c
    GROUP BY c.account_id
)
SELECT y.first_day AS period,
       count(*) FILTER (WHERE a.at_end AND a.first_on >= y.first_day AND a.first_on <= $as_of)::DOUBLE AS value
FROM account a, year y
GROUP BY ALL
