-- acv by fiscal year, as of $as_of: the mean value (reporting currency) of the contracts
-- signed by then, by the fiscal year they were signed in.
WITH rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
contract AS (
    SELECT c.signed_on,
           CASE WHEN c.currency IS NULL OR c.currency = $currency THEN c.value
                ELSE c.value * r.rate END AS value_eur
    FROM contracts c LEFT JOIN rate r ON r.currency = c.currency
    WHERE c.signed_on <= $as_of
)
SELECT (date_trunc('year', signed_on - to_months($fiscal_shift)) + to_months($fiscal_shift))::DATE AS period,
       sum(value_eur) AS numerator,
       count(value_eur)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM contract
GROUP BY ALL
