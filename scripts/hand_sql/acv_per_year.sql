-- acv_per_year by fiscal year, as of $as_of: the mean value per year of term (reporting
-- currency) of the contracts signed by then, by the fiscal year they were signed in. A
-- subscription: its recurring charge per year (12 × monthly, 4 × quarterly, 1 × yearly);
-- otherwise the value × 12 / the term in whole months (at least 1; open-ended: 12), a term
-- under a year counting as one year.
WITH rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
contract AS (
    SELECT c.signed_on,
           CASE WHEN c.currency IS NULL OR c.currency = $currency THEN 1.0 ELSE r.rate END AS fx,
           coalesce(greatest(round((c.end_on - c.start_on + 1) / 30.4375), 1.0), 12.0) AS term_months,
           coalesce(
               c.recurring_amount * fx * CASE c.billing_period WHEN 'month' THEN 12.0
                                         WHEN 'quarter' THEN 4.0 WHEN 'year' THEN 1.0 END,
               c.value * fx * 12.0 / greatest(term_months, 12.0)
           ) AS value_per_year
    FROM contracts c LEFT JOIN rate r ON r.currency = c.currency
    WHERE c.signed_on <= $as_of
)
SELECT (date_trunc('year', signed_on - to_months($fiscal_shift)) + to_months($fiscal_shift))::DATE AS period,
       sum(value_per_year) AS numerator,
       count(value_per_year)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM contract
GROUP BY ALL
