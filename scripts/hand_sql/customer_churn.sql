-- customer_churn for the fiscal year up to $as_of: of the accounts that were a customer on
-- the year's first day, the share no longer one on $as_of, × 100. A customer on a day has
-- a contract running that day or signed in the $window_days days up to it (contracts
-- signed after $as_of are not known yet).
WITH year AS (
    SELECT (date_trunc('year', $as_of::DATE - to_months($fiscal_shift))
            + to_months($fiscal_shift))::DATE AS first_day
),
contract AS (SELECT * FROM contracts WHERE signed_on <= $as_of),
account AS (
    SELECT c.account_id,
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
       count(*) FILTER (WHERE at_start AND NOT at_end)::DOUBLE AS numerator,
       count(*) FILTER (WHERE at_start)::DOUBLE AS denominator,
       100.0 * numerator / nullif(denominator, 0) AS value
FROM account, year y
GROUP BY ALL
