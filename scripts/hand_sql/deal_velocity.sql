-- deal_velocity by rep, as of $as_of: (open deals × average deal size × win rate) /
-- average sales cycle, the revenue the pipeline produces per day. Open deals at the end
-- of that local day; size (mean amount of the deals won, reporting currency), win rate
-- (won / closed) and cycle (mean days from creation to won) over the deals closed in the
-- 12 months up to $as_of (local close date from the day after $as_of a year earlier).
-- No value without a positive cycle. Rows: every rep with an open deal or a deal closed
-- in those months, and every rep on staff on $as_of.
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
since AS (  -- start of the first local day of the 12 months, in UTC
    SELECT timezone('UTC', timezone($tz, least((date_trunc('month', $as_of::DATE) - INTERVAL 1 YEAR)::DATE
                                               + day($as_of::DATE)::INTEGER, $as_of::DATE)::TIMESTAMP)) AS at
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, h.entered_at, s.is_closed, s.is_won
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
deal AS (  -- deals created by the cutoff, in their state then
    SELECT d.owner_rep_id AS rep_id, d.created_at,
           CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed
                ELSE coalesce(d.closed_at < cut.at, false) END AS closed,
           CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed AND v.is_won
                ELSE coalesce(d.closed_at < cut.at AND d.outcome = 'won', false) END AS won,
           coalesce(v.entered_at, d.closed_at) AS closed_at,
           CASE WHEN d.currency IS NULL OR d.currency = $currency THEN d.amount
                ELSE d.amount * r.rate END AS amount
    FROM deals d CROSS JOIN cut
    LEFT JOIN last_visit v USING (deal_id)
    LEFT JOIN rate r ON r.currency = d.currency
    WHERE d.created_at < cut.at
),
open AS (SELECT rep_id, count(*)::DOUBLE AS n FROM deal WHERE NOT closed GROUP BY ALL),
closed AS (  -- the deals closed in the 12 months, per rep
    SELECT d.rep_id,
           avg(d.amount) FILTER (WHERE d.won) AS size,
           count(*) FILTER (WHERE d.won)::DOUBLE / count(*) AS win_rate,
           avg((epoch(d.closed_at) - epoch(d.created_at)) / 86400.0) FILTER (WHERE d.won) AS cycle
    FROM deal d, since
    WHERE d.closed AND d.closed_at >= since.at
    GROUP BY ALL
),
spine AS (
    SELECT rep_id FROM open UNION SELECT rep_id FROM closed
    UNION
    SELECT rep_id FROM reps
    WHERE (hired_on IS NULL OR hired_on <= $as_of) AND (left_on IS NULL OR left_on >= $as_of)
)
SELECT s.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       coalesce(o.n, 0) * c.size * c.win_rate AS numerator,
       c.cycle AS denominator,
       CASE WHEN denominator > 0 THEN numerator / denominator END AS value
FROM spine s
LEFT JOIN open o ON o.rep_id IS NOT DISTINCT FROM s.rep_id
LEFT JOIN closed c ON c.rep_id IS NOT DISTINCT FROM s.rep_id
LEFT JOIN reps r ON r.rep_id = s.rep_id
