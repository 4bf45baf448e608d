-- deals_without_amount by rep, as of $as_of: of the deals open at the end of that local
-- day, those with no amount filled in. Every rep with an open deal appears (0 when none
-- lacks an amount).
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, s.is_closed
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
open AS (  -- open at the cutoff (no history: created and not yet closed)
    SELECT d.owner_rep_id AS rep_id, d.amount
    FROM deals d CROSS JOIN cut
    LEFT JOIN last_visit v USING (deal_id)
    WHERE d.created_at < cut.at
      AND CASE WHEN v.deal_id IS NOT NULL THEN NOT v.is_closed
               ELSE d.closed_at IS NULL OR d.closed_at >= cut.at END
)
SELECT o.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*) FILTER (WHERE o.amount IS NULL)::DOUBLE AS value
FROM open o LEFT JOIN reps r USING (rep_id)
GROUP BY ALL
