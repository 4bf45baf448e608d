-- conversion_rate by rep and fiscal quarter, as of $as_of: for the quarter containing
-- $as_of (up to the end of that local day), deals won in it / the leads and deals in the
-- pipeline at any time in it × 100. A deal is in the pipeline from its creation until it
-- closed; a lead from its creation until disqualified or dormant ($dormant_days after its
-- last activity, or its creation, when that is before the cutoff), and no longer once its
-- first deal exists. Every rep owning a deal or lead by then appears.
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
q AS (  -- the fiscal quarter of $as_of: start date, and its bounds in UTC (capped at the cutoff)
    SELECT p.start, timezone('UTC', timezone($tz, p.start::TIMESTAMP)) AS start_at,
           least(timezone('UTC', timezone($tz, (p.start + INTERVAL 3 MONTH)::TIMESTAMP)), cut.at) AS end_at
    FROM cut, (SELECT (date_trunc('quarter', $as_of::DATE - to_months($fiscal_shift))
                       + to_months($fiscal_shift))::DATE AS start) p
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, h.entered_at, s.is_closed, s.is_won
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
deal AS (  -- deals created by the cutoff: when they closed (if by then) and whether won
    SELECT d.owner_rep_id AS rep_id, d.lead_id, d.created_at,
           CASE WHEN v.deal_id IS NOT NULL THEN CASE WHEN v.is_closed THEN v.entered_at END
                WHEN d.closed_at < cut.at THEN d.closed_at END AS closed_at,
           CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed AND v.is_won
                ELSE coalesce(d.closed_at < cut.at AND d.outcome = 'won', false) END AS won
    FROM deals d CROSS JOIN cut LEFT JOIN last_visit v USING (deal_id)
    WHERE d.created_at < cut.at
),
first_deal AS (SELECT lead_id, min(created_at) AS at FROM deal WHERE lead_id IS NOT NULL GROUP BY ALL),
touched AS (
    SELECT a.lead_id, max(a.occurred_at) AS at
    FROM activities a, cut
    WHERE a.lead_id IS NOT NULL AND a.occurred_at < cut.at
    GROUP BY ALL
),
lead AS (  -- leads created by the cutoff, with their owner then and when they left the pipeline
    SELECT CASE WHEN l.assigned_at IS NULL OR l.assigned_at < cut.at THEN l.owner_rep_id END AS rep_id,
           l.created_at,
           coalesce(CASE WHEN l.disqualified_at < cut.at THEN l.disqualified_at END,
                    CASE WHEN coalesce(t.at, l.created_at) + to_days($dormant_days) < cut.at
                         THEN coalesce(t.at, l.created_at) + to_days($dormant_days) END) AS left_at,
           f.at AS deal_at
    FROM leads l CROSS JOIN cut
    LEFT JOIN touched t USING (lead_id)
    LEFT JOIN first_deal f USING (lead_id)
    WHERE l.created_at < cut.at
),
item AS (
    SELECT d.rep_id,
           d.created_at < q.end_at AND (d.closed_at IS NULL OR d.closed_at >= q.start_at) AS in_pipeline,
           d.won AND d.closed_at >= q.start_at AND d.closed_at < q.end_at AS won_in
    FROM deal d, q
    UNION ALL
    SELECT l.rep_id,
           l.created_at < q.end_at AND (l.left_at IS NULL OR l.left_at >= q.start_at)
               AND (l.deal_at IS NULL OR l.deal_at >= q.end_at),
           false
    FROM lead l, q
)
SELECT q.start AS period,
       i.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*) FILTER (WHERE i.won_in)::DOUBLE AS numerator,
       count(*) FILTER (WHERE i.in_pipeline)::DOUBLE AS denominator,
       100.0 * numerator / nullif(denominator, 0) AS value
FROM item i CROSS JOIN q LEFT JOIN reps r USING (rep_id)
GROUP BY ALL
