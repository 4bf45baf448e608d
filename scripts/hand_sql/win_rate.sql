-- win_rate by rep and fiscal quarter, as of $as_of: won / closed of the deals closed in
-- the quarter (local close date).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
last_visit AS (
    SELECT h.deal_id, h.entered_at, s.is_closed, s.is_won
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
closed AS (
    SELECT d.owner_rep_id AS rep_id,
           coalesce(v.entered_at, d.closed_at) AS closed_at,
           coalesce(v.is_won, d.outcome = 'won', false) AS won
    FROM deals d CROSS JOIN cut LEFT JOIN last_visit v USING (deal_id)
    WHERE d.created_at < cut.at
      AND CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed ELSE d.closed_at < cut.at END
)
SELECT (date_trunc('quarter', timezone($tz, timezone('UTC', c.closed_at)) - to_months($fiscal_shift))
        + to_months($fiscal_shift))::DATE AS period,
       c.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*) FILTER (WHERE c.won)::DOUBLE AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / denominator AS value
FROM closed c LEFT JOIN reps r USING (rep_id)
GROUP BY ALL
