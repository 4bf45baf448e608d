-- staff_retention for the fiscal year up to $as_of: of the reps on staff on the year's
-- first day, the share still on staff on its last day up to $as_of, × 100. On staff on a
-- day: hired on or before it (no hire date: always was) and not left before it.
WITH year AS (
    SELECT (date_trunc('year', $as_of::DATE - to_months($fiscal_shift))
            + to_months($fiscal_shift))::DATE AS first_day,
           least((first_day + INTERVAL 1 YEAR)::DATE - 1, $as_of::DATE) AS last_day
),
staff AS (
    SELECT (r.hired_on IS NULL OR r.hired_on <= y.first_day)
               AND (r.left_on IS NULL OR r.left_on >= y.first_day) AS at_start,
           (r.hired_on IS NULL OR r.hired_on <= y.last_day)
               AND (r.left_on IS NULL OR r.left_on >= y.last_day) AS at_end
    FROM reps r, year y
)
SELECT y.first_day AS period,
       count(*) FILTER (WHERE at_start AND at_end)::DOUBLE AS numerator,
       count(*) FILTER (WHERE at_start)::DOUBLE AS denominator,
       100.0 * numerator / nullif(denominator, 0) AS value
FROM staff, year y
GROUP BY ALL
