-- leads_by_status by rep (the owner as known at $as_of) and lead status, as of $as_of: each
-- lead created by then has the highest status it reached by then, lowest to highest: new;
-- attempting (an outbound activity); connected (an inbound one, a connected call, a reply
-- or a held meeting); open_deal (a deal from the lead); customer / deal_lost (all its
-- deals closed, one won / none won; a deal's state is its last stage entry before then,
-- or without history its own closed_at and outcome); unqualified (disqualified).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
touch AS (
    SELECT a.lead_id,
           bool_or(coalesce(a.direction, 'outbound') = 'outbound') AS attempted,
           bool_or(coalesce(a.direction, 'outbound') <> 'outbound'
                   OR a.outcome IN ('connected', 'replied', 'held')) AS connected
    FROM activities a, cut
    WHERE a.occurred_at < cut.at AND a.lead_id IS NOT NULL
    GROUP BY a.lead_id
),
last_visit AS (
    SELECT h.deal_id, s.is_closed, s.is_won
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
lead_deal AS (
    SELECT d.lead_id,
           bool_and(CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed
                         ELSE d.closed_at < cut.at END) AS all_closed,
           bool_or(CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed AND v.is_won
                        ELSE d.closed_at < cut.at AND d.outcome = 'won' END) AS won
    FROM deals d CROSS JOIN cut LEFT JOIN last_visit v USING (deal_id)
    WHERE d.created_at < cut.at AND d.lead_id IS NOT NULL
    GROUP BY d.lead_id
),
status AS (
    SELECT CASE WHEN l.assigned_at IS NULL OR l.assigned_at < cut.at THEN l.owner_rep_id END AS rep_id,
           CASE WHEN l.disqualified_at < cut.at THEN 'unqualified'
                WHEN d.all_closed AND d.won THEN 'customer'
                WHEN d.all_closed THEN 'deal_lost'
                WHEN d.lead_id IS NOT NULL THEN 'open_deal'
                WHEN t.connected THEN 'connected'
                WHEN t.attempted THEN 'attempting'
                ELSE 'new' END AS lead_status
    FROM leads l CROSS JOIN cut
    LEFT JOIN touch t USING (lead_id) LEFT JOIN lead_deal d USING (lead_id)
    WHERE l.created_at < cut.at
),
n AS (  -- the figures per rep, then the rep's name
    SELECT s.rep_id AS rep, s.lead_status,
           count(*)::DOUBLE AS value
    FROM status s
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
