//! The dashboard's migration chart, drawn on the server as inline SVG: a bar per day of users
//! migrated, the cumulative line with one point per day of data, and the forecast to the goal
//! share with its range. No script and no external resource, so it passes the pages' CSP.

use portcullis_domain::migration::{date_of, DayCount, Forecast};
use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;
/// The forecast is drawn at most this many days past the last day of data.
const MAX_AHEAD: i64 = 730;

/// Days since 1970-01-01 of an ISO date (`YYYY-MM-DD`), proleptic Gregorian: the inverse of
/// `date_of` (Howard Hinnant's days_from_civil).
pub fn day_number(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// What the chart shows for one tenant.
pub struct Series<'a> {
    pub per_day: &'a [DayCount],
    /// Users in the legacy system; without it the line is a count, not a share.
    pub legacy: Option<i64>,
    pub forecast: Option<&'a Forecast>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart as an `<svg>` element, or a sentence when there is no day of data yet.
pub fn svg(series: &Series<'_>, label: &str) -> String {
    let days: Vec<(i64, i64)> = series
        .per_day
        .iter()
        .filter_map(|d| Some((day_number(&d.date)?, d.count)))
        .collect();
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return "<p class=\"legend\">No user has been migrated by a connector yet.</p>".into();
    };
    let (first, last) = (first.0, last.0);
    let forecast = series
        .forecast
        .filter(|f| !f.reached && series.legacy.is_some());
    let ahead = |d: &Option<String>| {
        d.as_deref()
            .and_then(day_number)
            .map(|n| n.min(last + MAX_AHEAD))
    };
    let end = forecast
        .and_then(|f| ahead(&f.latest_date).or(ahead(&f.expected_date)))
        .unwrap_or(last)
        .max(last);
    let span = (end - first).max(1) as f64;
    let x = |day: i64| LEFT + (day - first) as f64 / span * (W - LEFT - RIGHT);
    let plot_h = H - TOP - BOTTOM;

    let mut cumulative = Vec::with_capacity(days.len());
    let mut sum = 0i64;
    for (day, n) in &days {
        sum += n;
        cumulative.push((*day, sum));
    }
    let top = match series.legacy {
        Some(l) if l > 0 => l as f64,
        _ => sum.max(1) as f64,
    };
    let y = |v: f64| TOP + plot_h - (v / top).clamp(0.0, 1.0) * plot_h;
    let max_daily = days.iter().map(|d| d.1).max().unwrap_or(1).max(1) as f64;
    let bar_w = ((W - LEFT - RIGHT) / (span + 1.0) * 0.8).clamp(1.0, 24.0);

    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"{id}-t\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"{id}-t\">{title}</title>",
        id = esc(label),
        title = esc(&format!(
            "Users migrated per day and cumulatively, {} days of data",
            days.len()
        )),
    );
    // Axes and the goal.
    let _ = write!(
        out,
        "<g stroke=\"#6b7785\" stroke-width=\"1\"><line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b}\"/></g>",
        b = TOP + plot_h,
        r = W - RIGHT,
    );
    let top_label = if series.legacy.is_some() {
        "100%".to_string()
    } else {
        sum.to_string()
    };
    let _ = write!(
        out,
        "<g font-size=\"11\" fill=\"#44505c\"><text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{top_label}</text>\
         <text x=\"{tx}\" y=\"{by}\" text-anchor=\"end\">0</text>\
         <text x=\"{LEFT}\" y=\"{dy}\">{d0}</text><text x=\"{r}\" y=\"{dy}\" text-anchor=\"end\">{d1}</text></g>",
        tx = LEFT - 6.0,
        ty = TOP + 4.0,
        by = TOP + plot_h,
        dy = H - 12.0,
        r = W - RIGHT,
        d0 = esc(&series.per_day.first().map(|d| d.date.clone()).unwrap_or_default()),
        d1 = esc(&date_of(end)),
    );
    // Daily bars, scaled to the busiest day (their own scale: a day's count beside the total
    // would be invisible).
    out.push_str("<g fill=\"#a9c4ea\">");
    for (day, n) in &days {
        let h = *n as f64 / max_daily * plot_h * 0.5;
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\"><title>{}: {n}</title></rect>",
            x(*day) - bar_w / 2.0,
            TOP + plot_h - h,
            esc(&date_of(*day)),
        );
    }
    out.push_str("</g>");
    // The forecast: a dashed line from today's share to the goal on the expected date, and the
    // range of dates as a band on the goal's height.
    if let (Some(f), Some(&(lday, lsum))) = (forecast, cumulative.last()) {
        let goal_v = f.goal * top;
        if let (Some(lo), Some(hi)) = (ahead(&f.earliest_date), ahead(&f.latest_date)) {
            let _ = write!(
                out,
                "<rect class=\"range\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"6\" fill=\"#f3c77a\"/>",
                x(lo),
                y(goal_v) - 3.0,
                (x(hi) - x(lo)).max(1.0),
            );
        }
        if let Some(at) = ahead(&f.expected_date) {
            let _ = write!(
                out,
                "<line class=\"forecast\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#c26a00\" \
                 stroke-width=\"2\" stroke-dasharray=\"6 4\"/>",
                x(lday),
                y(lsum as f64),
                x(at),
                y(goal_v),
            );
        }
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{gy:.1}\" x2=\"{r}\" y2=\"{gy:.1}\" stroke=\"#c26a00\" stroke-width=\"1\" \
             stroke-dasharray=\"2 3\"/>",
            gy = y(goal_v),
            r = W - RIGHT,
        );
    }
    // The cumulative line with a point per day of data.
    let points: Vec<String> = cumulative
        .iter()
        .map(|(d, v)| format!("{:.1},{:.1}", x(*d), y(*v as f64)))
        .collect();
    let _ = write!(
        out,
        "<polyline fill=\"none\" stroke=\"#0b4fb3\" stroke-width=\"2\" points=\"{}\"/><g fill=\"#0b4fb3\">",
        points.join(" ")
    );
    for (d, v) in &cumulative {
        let shown = match series.legacy {
            Some(l) if l > 0 => format!("{:.1}%", *v as f64 / l as f64 * 100.0),
            _ => v.to_string(),
        };
        let _ = write!(
            out,
            "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{}: {}</title></circle>",
            x(*d),
            y(*v as f64),
            esc(&date_of(*d)),
            esc(&shown),
        );
    }
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, count: i64) -> DayCount {
        DayCount {
            date: date.into(),
            count,
        }
    }

    #[test]
    fn dates_and_day_numbers_are_inverse() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2000-03-01"), Some(11_017));
        for n in [-1000, 0, 59, 60, 11_016, 19_000, 20_789] {
            assert_eq!(day_number(&date_of(n)), Some(n), "{n}");
        }
        assert_eq!(day_number("2026-13-01"), None);
        assert_eq!(day_number("not a date"), None);
    }

    #[test]
    fn a_point_and_a_bar_per_day_of_data() {
        let per_day = [
            day("2026-11-01", 5),
            day("2026-11-02", 7),
            day("2026-11-05", 1),
        ];
        let s = svg(
            &Series {
                per_day: &per_day,
                legacy: Some(100),
                forecast: None,
            },
            "t1",
        );
        assert!(s.starts_with("<svg"));
        assert_eq!(s.matches("class=\"point\"").count(), 3);
        assert_eq!(s.matches("class=\"bar\"").count(), 3);
        assert!(s.contains("2026-11-05: 13.0%"), "{s}");
    }

    #[test]
    fn no_data_is_a_sentence_not_an_empty_chart() {
        let s = svg(
            &Series {
                per_day: &[],
                legacy: None,
                forecast: None,
            },
            "t",
        );
        assert!(!s.contains("<svg"));
    }
}
