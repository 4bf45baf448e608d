-- crm_feature_share by rep for the local month of $as_of (up to $as_of): of the rep's
-- (week, feature) slots — the weeks on staff in the month (days on staff / 7, rounded up)
-- × the six CRM features (call, e-mail, meeting, task, note, deal update) — the share the
-- rep used: distinct (local week, feature) pairs logged on a local day of the month. Deal
-- updates are stage entries but a deal's first, by the rep who made the change or else
-- the deal's owner. Every rep appears (no value with no slot).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
month AS (
    SELECT date_trunc('month', $as_of::DATE)::DATE AS first_day,
           least((first_day + INTERVAL 1 MONTH)::DATE, $as_of::DATE + 1) AS end_day
),
log AS (  -- the CRM log since the month's start, with local times
    SELECT a.rep_id, a.activity_type, timezone($tz, timezone('UTC', a.occurred_at)) AS local_at
    FROM activities a, cut, month m
    WHERE a.occurred_at < cut.at
      AND a.occurred_at >= timezone('UTC', timezone($tz, m.first_day::TIMESTAMP))
    UNION ALL
    SELECT coalesce(h.changed_by_rep_id, d.owner_rep_id), 'deal_update',
           timezone($tz, timezone('UTC', h.entered_at))
    FROM deal_stage_history h CROSS JOIN cut
    LEFT JOIN deals d ON d.deal_id = h.deal_id AND d.created_at < cut.at
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id) > 1
),
used AS (
    SELECT x.rep_id, count(DISTINCT (date_trunc('week', x.local_at), x.activity_type)) AS used
    FROM log x, month m
    WHERE x.local_at >= m.first_day AND x.local_at < m.end_day
    GROUP BY x.rep_id
)
SELECT m.first_day AS period, r.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       coalesce(u.used, 0)::DOUBLE AS numerator,
       6.0 * greatest(ceil((epoch(least(m.end_day, coalesce(r.left_on + 1, m.end_day))::TIMESTAMP)
                            - epoch(greatest(m.first_day, coalesce(r.hired_on, m.first_day))::TIMESTAMP))
                           / (7 * 86400.0)), 0) AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM reps r CROSS JOIN month m LEFT JOIN used u USING (rep_id)
