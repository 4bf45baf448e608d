-- won_deals by rep and fiscal quarter, as of $as_of: the number of deals won, by the
-- local date they closed.
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, h.entered_at, s.is_closed, s.is_won
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
won AS (  -- won by the cutoff: last stage is a won stage (no history: the deal's columns)
    SELECT d.owner_rep_id AS rep_id, coalesce(v.entered_at, d.closed_at) AS closed_at
    FROM deals d CROSS JOIN cut
    LEFT JOIN last_visit v USING (deal_id)
    WHERE d.created_at < cut.at
      AND CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed AND v.is_won
               ELSE d.closed_at < cut.at AND d.outcome = 'won' END
)
SELECT (date_trunc('quarter', timezone($tz, timezone('UTC', w.closed_at)) - to_months($fiscal_shift))
        + to_months($fiscal_shift))::DATE AS period,
       w.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*)::DOUBLE AS value
FROM won w LEFT JOIN reps r USING (rep_id)
GROUP BY ALL
