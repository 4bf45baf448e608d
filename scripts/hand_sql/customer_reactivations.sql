-- customer_reactivations for the fiscal year up to $as_of: accounts that are a customer
-- on $as_of, were not one on the year's first day and did not first become one in the
-- year (their first contract date, signing or start, lies before it): won back. A
-- customer on a day has a contract running that day or signed in the $window_days days up
-- to it (contracts signed after $as_of are not known yet).
WITH year AS (
    SELECT (date_trunc('year', $as_of::DATE - to_months($fiscal_shift))
            + to_months($fiscal_shift))::DATE AS first_day
),
contract AS (SELECT * FROM contracts WHERE signed_on <= $as_of),
account AS (
    SELECT c.account_id,
           min(least(c.signed_on, c.start_on)) AS first_on,
           bool_or((c.start_on <= y.first_day AND coalesce(c.end_on >= y.first_day, true))
                   OR (c.signed_on <= y.first_day AND c.signed_on > y.first_day - $window_days::INTEGER))
               AS at_start,
           bool_or((c.start_on <= $as_of AND coalesce(c.end_on >= $as_of, true))
                   OR (c.signed_on <= $as_of AND c.signed_on > $as_of::DATE - $window_days::INTEGER))
               AS at_end
    FROM contract c, year y
    GROUP BY c.account_id
)
SELECT y.first_day AS period,
       count(*) FILTER (WHERE a.at_end AND NOT a.at_start
                        AND NOT (a.first_on >= y.first_day AND a.first_on <= $as_of))::DOUBLE AS value
FROM account a, year y
GROUP BY ALL
