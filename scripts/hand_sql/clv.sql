-- clv as of $as_of: average purchase value × average purchases per year × average lifespan
-- in years, over the contracts / accounts with a contract signed by then (each factor as
-- clv_purchase_value, clv_purchases_per_year and clv_lifespan_years compute it), in one
-- query.
WITH rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
contract AS (
    SELECT c.account_id, c.start_on, c.end_on,
           CASE WHEN c.currency IS NULL OR c.currency = $currency THEN 1.0 ELSE r.rate END AS fx,
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
),
account AS (
    SELECT account_id, count(*) AS purchases, sum(value_eur) AS value_eur,
           count(value_eur) AS valued, min(start_on) AS first_on,
           CASE WHEN bool_or(start_on <= $as_of AND coalesce(end_on, $as_of) >= $as_of) THEN $as_of::DATE
                ELSE least(max(coalesce(end_on, $as_of)), $as_of) END AS until
    FROM contract
    GROUP BY account_id
),
factor AS (
    SELECT sum(value_eur) / nullif(sum(valued), 0) AS avg_purchase_value,
           avg(purchases / greatest((until - first_on) / 365.25, 1.0)) AS purchases_per_year,
           avg(greatest((until - first_on) / 365.25, 0.0)) AS lifespan_years
    FROM account
)
SELECT avg_purchase_value, purchases_per_year, lifespan_years,
       avg_purchase_value * purchases_per_year * lifespan_years AS value
FROM factor
