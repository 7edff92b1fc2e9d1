//! The slow migration's progress: exact counts per tenant and connector from daily counters
//! written with what they count, the share migrated, and a forecast of when the goal is reached.

use super::connectors::*;
use super::{policies, LOGIN, MIGRATED, NOT_FOUND};
use crate::identity::Result;
use crate::model::*;
use crate::Identity;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

impl Identity {
    /// `GET /api/migration/status`: per tenant and connector, exact counts from the daily
    /// counters, the share migrated given the legacy user count, and a forecast.
    pub async fn migration_status(
        &self,
        scope: Scope,
        query: &StatusQuery,
    ) -> Result<MigrationStatus> {
        let counts = self.store().connector_counts(scope.tenant).await?;
        let today = day_of(now_millis());
        let mut tenants: BTreeMap<Uuid, BTreeMap<Uuid, Vec<&ConnectorCount>>> = BTreeMap::new();
        for c in &counts {
            tenants
                .entry(c.tenant_id)
                .or_default()
                .entry(c.connector_id)
                .or_default()
                .push(c);
        }
        // Tenants with policies but no counts yet are reported too (all zeros).
        for t in self.store().tenants().await? {
            if scope.sees(t.id) {
                for p in policies(&t) {
                    tenants
                        .entry(t.id.expect("stored"))
                        .or_default()
                        .entry(p.connector_id)
                        .or_default();
                }
            }
        }
        let names: HashMap<Uuid, String> = self
            .store()
            .connectors()
            .await?
            .into_iter()
            .filter_map(|c| Some((c.id?, c.name)))
            .collect();
        let mut out = Vec::new();
        for (tenant_id, by_connector) in tenants {
            let legacy_count = match query.legacy_count {
                Some(n) => Some(n),
                None => self
                    .store()
                    .tenant(tenant_id)
                    .await?
                    .and_then(|t| legacy_user_count(&t)),
            };
            let mut connectors = Vec::new();
            let mut per_day_all: BTreeMap<i64, i64> = BTreeMap::new();
            for (connector_id, rows) in by_connector {
                let mut s = ConnectorStatus {
                    connector_id,
                    name: names.get(&connector_id).cloned().unwrap_or_default(),
                    ..ConnectorStatus::default()
                };
                for r in rows {
                    match r.outcome.as_str() {
                        MIGRATED => {
                            s.users_migrated += r.count;
                            *per_day_all.entry(r.day).or_default() += r.count;
                        }
                        LOGIN => s.logins += r.count,
                        NOT_FOUND => s.not_found += r.count,
                        other => *s.failures.entry(other.to_string()).or_default() += r.count,
                    }
                }
                connectors.push(s);
            }
            let migrated: i64 = connectors.iter().map(|c| c.users_migrated).sum();
            let forecast = legacy_count
                .filter(|n| *n > 0)
                .map(|n| forecast(&per_day_all, migrated, n, query.goal, today));
            out.push(TenantStatus {
                tenant_id,
                users_migrated: migrated,
                legacy_user_count: legacy_count,
                share_migrated: legacy_count
                    .filter(|n| *n > 0)
                    .map(|n| (migrated as f64 / n as f64).min(1.0)),
                migrated_per_day: per_day_all
                    .iter()
                    .map(|(d, n)| DayCount {
                        date: date_of(*d),
                        count: *n,
                    })
                    .collect(),
                connectors,
                forecast,
            });
        }
        Ok(MigrationStatus { tenants: out })
    }
}

/// `tenant.data.legacyUserCount` — the number of users in the legacy system, when configured.
pub fn legacy_user_count(t: &Tenant) -> Option<i64> {
    t.data.get("legacyUserCount").and_then(Value::as_i64)
}

/// What `GET /api/migration/status` is asked.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusQuery {
    /// Users in the legacy system (default: `tenant.data.legacyUserCount`).
    pub legacy_count: Option<i64>,
    /// The share to forecast (default 0.9).
    pub goal: Option<f64>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationStatus {
    pub tenants: Vec<TenantStatus>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    pub tenant_id: Uuid,
    pub users_migrated: i64,
    pub legacy_user_count: Option<i64>,
    pub share_migrated: Option<f64>,
    pub migrated_per_day: Vec<DayCount>,
    pub connectors: Vec<ConnectorStatus>,
    pub forecast: Option<Forecast>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCount {
    pub date: String,
    pub count: i64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatus {
    pub connector_id: Uuid,
    pub name: String,
    pub users_migrated: i64,
    /// Logins the connector authenticated (first logins, and every login under `migrate: false`).
    pub logins: i64,
    /// Unknown user or wrong password.
    pub not_found: i64,
    /// Failures by kind (`timeout`, `unreachable`, `badAnswer`, `circuitOpen`, `busy`).
    pub failures: BTreeMap<String, i64>,
}

/// When the goal share is expected, from S = 1 − (1 − P)^D.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Forecast {
    pub goal: f64,
    /// The measured daily probability that a not-yet-migrated user logs in.
    pub daily_login_probability: Option<f64>,
    /// Its standard error over the days measured.
    pub standard_error: Option<f64>,
    pub days_measured: i64,
    /// The date the goal is expected (ISO `YYYY-MM-DD`), with a range from P ± 2 standard
    /// errors. `None` when there is too little data (fewer than 2 days) to say.
    pub expected_date: Option<String>,
    pub earliest_date: Option<String>,
    pub latest_date: Option<String>,
    pub reached: bool,
    /// In words, for people: how sure this is.
    pub confidence: String,
}

/// The forecast. Each full day `d` since the first migration gives one measurement
/// `p_d = migrated_d / remaining at the start of d`; P is their mean. The remaining fraction
/// after `k` more days is `(1 − S₀)(1 − P)^k`, so the goal `G` is reached after
/// `k = ln((1 − G)/(1 − S₀)) / ln(1 − P)` days. Today is not measured (it is not over).
pub fn forecast(
    per_day: &BTreeMap<i64, i64>,
    migrated: i64,
    legacy: i64,
    goal: Option<f64>,
    today: i64,
) -> Forecast {
    let goal = goal.filter(|g| *g > 0.0 && *g < 1.0).unwrap_or(0.9);
    let share = (migrated as f64 / legacy as f64).min(1.0);
    let mut f = Forecast {
        goal,
        daily_login_probability: None,
        standard_error: None,
        days_measured: 0,
        expected_date: None,
        earliest_date: None,
        latest_date: None,
        reached: share >= goal,
        confidence: String::new(),
    };
    if f.reached {
        f.confidence = "The goal is reached.".into();
        return f;
    }
    let Some(first) = per_day.keys().next().copied() else {
        f.confidence = "No user has been migrated yet: nothing to measure.".into();
        return f;
    };
    let mut done_before = 0i64;
    let mut samples = Vec::new();
    for day in first..today {
        let n = per_day.get(&day).copied().unwrap_or(0);
        let remaining = legacy - done_before;
        if remaining > 0 {
            samples.push(n as f64 / remaining as f64);
        }
        done_before += n;
    }
    f.days_measured = samples.len() as i64;
    if samples.len() < 2 {
        f.confidence = format!(
            "{} full day(s) measured: at least 2 are needed for a forecast.",
            samples.len()
        );
        return f;
    }
    let k = samples.len() as f64;
    let p = samples.iter().sum::<f64>() / k;
    let var = samples.iter().map(|x| (x - p).powi(2)).sum::<f64>() / (k - 1.0);
    let se = (var / k).sqrt();
    f.daily_login_probability = Some(p);
    f.standard_error = Some(se);
    let days_for = |p: f64| -> Option<i64> {
        if p <= 0.0 {
            return None;
        }
        if p >= 1.0 {
            return Some(1);
        }
        let d = ((1.0 - goal) / (1.0 - share)).ln() / (1.0 - p).ln();
        (d.is_finite() && d < 365.0 * 100.0).then(|| d.ceil().max(0.0) as i64)
    };
    let at = |d: Option<i64>| d.map(|d| date_of(today + d));
    f.expected_date = at(days_for(p));
    f.earliest_date = at(days_for(p + 2.0 * se));
    f.latest_date = at(days_for(p - 2.0 * se));
    let rel = if p > 0.0 { se / p } else { f64::INFINITY };
    f.confidence = format!(
        "Measured over {} days; P = {:.5} ± {:.5} per day ({}). The range is P ± 2 standard errors{}.",
        samples.len(),
        p,
        se,
        if rel < 0.1 {
            "steady"
        } else if rel < 0.3 {
            "fairly steady"
        } else {
            "noisy: treat the date as rough"
        },
        if f.latest_date.is_none() && f.expected_date.is_some() {
            "; the late end is open because P may be near zero"
        } else {
            ""
        }
    );
    f
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), proleptic Gregorian.
pub fn date_of(day: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_779), "2026-11-22");
        assert_eq!(date_of(11_016), "2000-02-29");
    }

    #[test]
    fn forecast_recovers_a_steady_login_probability() {
        // 100,000 legacy users, each logs in with probability 2% a day.
        let legacy = 100_000i64;
        let mut per_day = BTreeMap::new();
        let mut migrated = 0i64;
        let start = 20_000;
        for d in 0..30 {
            let n = ((legacy - migrated) as f64 * 0.02).round() as i64;
            per_day.insert(start + d, n);
            migrated += n;
        }
        let f = forecast(&per_day, migrated, legacy, Some(0.9), start + 30);
        let p = f.daily_login_probability.unwrap();
        assert!((p - 0.02).abs() < 1e-4, "{p}");
        // S after 30 days ≈ 1 − 0.98^30 = 45.5%; reaching 90% takes ln(0.1/0.545)/ln(0.98) ≈ 84
        // more days.
        let expected = date_of(start + 30 + 84);
        assert_eq!(f.expected_date.as_deref(), Some(expected.as_str()));
        assert!(f.confidence.contains("steady"), "{}", f.confidence);
        assert!(!f.reached);
    }

    #[test]
    fn forecast_says_when_it_cannot_tell() {
        let per_day = BTreeMap::from([(100, 5)]);
        let f = forecast(&per_day, 5, 1000, None, 101);
        assert!(f.expected_date.is_none());
        assert!(f.confidence.contains("at least 2"), "{}", f.confidence);
        let f = forecast(&BTreeMap::new(), 0, 1000, None, 101);
        assert!(f.expected_date.is_none());
        let f = forecast(&per_day, 950, 1000, Some(0.9), 101);
        assert!(f.reached);
    }

    #[test]
    fn noisy_days_widen_the_range() {
        let per_day: BTreeMap<i64, i64> = [(0, 10), (1, 300), (2, 5), (3, 200), (4, 20)]
            .into_iter()
            .collect();
        let f = forecast(&per_day, 535, 10_000, Some(0.5), 5);
        assert!(f.earliest_date < f.expected_date);
        assert!(f.confidence.contains("noisy"), "{}", f.confidence);
    }
}
