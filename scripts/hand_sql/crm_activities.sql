-- crm_activities by rep and local week (Monday), as of $as_of: activities logged plus deal
-- updates (every stage entry of a deal but its first, by the rep who made the change or
-- else the deal's owner).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
log AS (
    SELECT a.rep_id, a.occurred_at AS at
    FROM activities a, cut
    WHERE a.occurred_at < cut.at
    UNION ALL
    SELECT coalesce(h.changed_by_rep_id, d.owner_rep_id) AS rep_id, h.entered_at AS at
    FROM deal_stage_history h CROSS JOIN cut
    LEFT JOIN deals d ON d.deal_id = h.deal_id AND d.created_at < cut.at
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id) > 1
),
n AS (  -- the figures per rep, then the rep's name
    SELECT x.rep_id AS rep,
           date_trunc('week', timezone($tz, timezone('UTC', x.at)))::DATE AS period,
           count(*)::DOUBLE AS value
    FROM log x
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
