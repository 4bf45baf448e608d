-- clv_purchase_value as of $as_of: the mean value (reporting currency) of the contracts
-- signed by then. An open-ended subscription is worth the charges billed from its start up
-- to $as_of (one per billing period begun; none before it starts).
WITH rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
contract AS (
    SELECT CASE WHEN c.currency IS NULL OR c.currency = $currency THEN 1.0 ELSE r.rate END AS fx,
           CASE c.billing_period WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 WHEN 'year' THEN 12 END
               AS months,
           CASE WHEN c.end_on IS NULL AND c.recurring_amount * fx * months IS NOT NULL
                THEN c.recurring_amount * fx
                     * CASE WHEN c.start_on <= $as_of
                            THEN floor(((year($as_of::DATE) - year(c.start_on)) * 12
                                        + month($as_of::DATE) - month(c.start_on)
                                        - CASE WHEN day($as_of::DATE) < day(c.start_on) THEN 1 ELSE 0 END)
                                       / months) + 1
                            ELSE 0.0 END
                ELSE c.value * fx END AS value_eur
    FROM contracts c LEFT JOIN rate r ON r.currency = c.currency
    WHERE c.signed_on <= $as_of
)
SELECT sum(value_eur) AS numerator,
       count(value_eur)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM contract
