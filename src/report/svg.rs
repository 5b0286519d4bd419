//! Line charts as inline SVG, drawn here so the report needs no script or network to show them.
//!
//! Hover values use SVG's native `<title>` tooltips on vertical bands, one per time slot, which
//! work without JavaScript and print cleanly. Long series are thinned with LTTB (largest
//! triangle three buckets), which keeps a chart's shape, peaks included, in a few hundred points.

use std::fmt::Write;

use chrono::{DateTime, Local, TimeZone};

const WIDTH: f64 = 880.0;
const HEIGHT: f64 = 250.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 36.0;
/// Points drawn per line at most.
const MAX_POINTS: usize = 500;
/// Hover bands per chart at most.
const MAX_BANDS: usize = 120;

/// Colours that stay distinct in print and for common colour blindness (Okabe-Ito).
pub const PALETTE: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

pub struct Line {
    pub label: String,
    pub color: &'static str,
    /// (Unix seconds, value); `None` breaks the line (no data then).
    pub points: Vec<(f64, Option<f64>)>,
}

pub struct Chart {
    pub title: String,
    /// The y axis unit, in words ("ms", "requests/s", "users").
    pub unit: &'static str,
    pub lines: Vec<Line>,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A round step giving about `count` ticks over `span`.
fn nice_step(span: f64, count: f64) -> f64 {
    if span <= 0.0 {
        return 1.0;
    }
    let raw = span / count;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// Seconds between time ticks: a clock-friendly step giving about six ticks.
fn time_step(span: f64) -> f64 {
    const STEPS: [f64; 16] = [
        1., 2., 5., 10., 15., 30., 60., 120., 300., 600., 900., 1800., 3600., 7200., 10800., 21600.,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 7.0)
        .unwrap_or(43200.0)
}

fn local(t: f64) -> DateTime<Local> {
    Local
        .timestamp_opt(t as i64, 0)
        .single()
        .unwrap_or_else(Local::now)
}

pub fn number(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The runs of defined points, thinned to `MAX_POINTS` in all.
fn segments(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for &(t, v) in points {
        match v {
            Some(v) if v.is_finite() => current.push((t, v)),
            _ => {
                if !current.is_empty() {
                    runs.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    let total: usize = runs.iter().map(Vec::len).sum();
    if total <= MAX_POINTS {
        return runs;
    }
    runs.into_iter()
        .map(|run| {
            let share = (run.len() * MAX_POINTS / total).max(3);
            if run.len() <= share {
                return run;
            }
            let data = run
                .iter()
                .map(|&(t, v)| lttb::DataPoint::new(t, v))
                .collect();
            lttb::lttb(data, share)
                .into_iter()
                .map(|p| (p.x, p.y))
                .collect()
        })
        .collect()
}

/// The chart as an `<svg>` element.
pub fn render(chart: &Chart) -> String {
    let all: Vec<(f64, f64)> = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().filter_map(|&(t, v)| v.map(|v| (t, v))))
        .collect();
    let title = escape(&chart.title);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{title}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title>{title}</title>"
    );
    if all.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" class=\"empty\" text-anchor=\"middle\">No data for this chart</text></svg>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return svg;
    }
    let t0 = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let t1 = all
        .iter()
        .map(|p| p.0)
        .fold(f64::NEG_INFINITY, f64::max)
        .max(t0 + 1.0);
    let top = all.iter().map(|p| p.1).fold(0.0, f64::max);
    let y_step = nice_step(top.max(1e-9), 4.0);
    let y_max = (top / y_step).ceil().max(1.0) * y_step;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |t: f64| LEFT + (t - t0) / (t1 - t0) * plot_w;
    let y = |v: f64| TOP + plot_h - v / y_max * plot_h;

    // Grid and y axis, with the unit.
    let mut v = 0.0;
    while v <= y_max + y_step / 2.0 {
        let yy = y(v);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            number(v)
        );
        v += y_step;
    }
    let _ = write!(
        svg,
        "<text class=\"unit\" x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(chart.unit)
    );

    // Time axis, in local clock time.
    let step = time_step(t1 - t0);
    let mut t = (t0 / step).ceil() * step;
    while t <= t1 {
        let xx = x(t);
        let label = if step >= 60.0 {
            local(t).format("%H:%M")
        } else {
            local(t).format("%H:%M:%S")
        };
        let _ = write!(
            svg,
            "<line class=\"axis\" x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"tick\" x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            TOP + plot_h,
            TOP + plot_h + 4.0,
            TOP + plot_h + 18.0
        );
        t += step;
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    );

    // Lines and legend.
    let mut legend_x = LEFT;
    for line in &chart.lines {
        for run in segments(&line.points) {
            let coords: Vec<String> = run
                .iter()
                .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
                .collect();
            let _ = write!(
                svg,
                "<polyline class=\"series\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" points=\"{}\"/>",
                line.color,
                coords.join(" ")
            );
        }
        let label = escape(&line.label);
        let _ = write!(
            svg,
            "<rect x=\"{legend_x:.1}\" y=\"10\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text class=\"legend\" x=\"{:.1}\" y=\"20\">{label}</text>",
            line.color,
            legend_x + 16.0
        );
        legend_x += 28.0 + 7.0 * line.label.chars().count() as f64;
    }

    // Hover bands: each slot's time and every line's value there.
    let bands = all.len().clamp(1, MAX_BANDS);
    let band_w = plot_w / bands as f64;
    for i in 0..bands {
        let mid = t0 + (i as f64 + 0.5) / bands as f64 * (t1 - t0);
        let mut tip = local(mid).format("%H:%M:%S").to_string();
        for line in &chart.lines {
            let nearest = line
                .points
                .iter()
                .filter_map(|&(t, v)| v.map(|v| (t, v)))
                .min_by(|a, b| (a.0 - mid).abs().total_cmp(&(b.0 - mid).abs()));
            if let Some((_, v)) = nearest {
                let _ = write!(tip, "\n{}: {} {}", line.label, number(v), chart.unit);
            }
        }
        let _ = write!(
            svg,
            "<rect class=\"band\" x=\"{:.1}\" y=\"{TOP}\" width=\"{band_w:.1}\" height=\"{plot_h:.1}\"><title>{}</title></rect>",
            LEFT + i as f64 * band_w,
            escape(&tip)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_step(97.0, 4.0), 25.0);
        assert_eq!(nice_step(1.3, 4.0), 0.5);
        assert_eq!(nice_step(8000.0, 4.0), 2000.0);
        assert_eq!(time_step(60.0), 10.0);
        assert_eq!(time_step(7200.0), 1800.0);
    }

    #[test]
    fn long_series_are_thinned_and_names_escaped() {
        let points: Vec<(f64, Option<f64>)> = (0..7200)
            .map(|i| (i as f64, Some((i % 50) as f64)))
            .collect();
        let chart = Chart {
            title: "p95 <script>".into(),
            unit: "ms",
            lines: vec![Line {
                label: "GET /x?a=<b>&c".into(),
                color: PALETTE[0],
                points,
            }],
        };
        let svg = render(&chart);
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        assert!(svg.contains("GET /x?a=&lt;b&gt;&amp;c"));
        let coords = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split(' ')
            .count();
        assert!(coords <= MAX_POINTS, "{coords}");
        assert!(svg.matches("<rect class=\"band\"").count() <= MAX_BANDS);
        assert!(svg.len() < 60_000, "{}", svg.len());
    }

    #[test]
    fn gaps_break_lines_and_empty_charts_say_so() {
        let points = vec![
            (0.0, Some(1.0)),
            (1.0, Some(2.0)),
            (2.0, None),
            (3.0, Some(3.0)),
            (4.0, Some(1.0)),
        ];
        let chart = Chart {
            title: "t".into(),
            unit: "ms",
            lines: vec![Line {
                label: "a".into(),
                color: PALETTE[1],
                points,
            }],
        };
        assert_eq!(render(&chart).matches("<polyline").count(), 2);
        let empty = Chart {
            title: "t".into(),
            unit: "ms",
            lines: vec![],
        };
        assert!(render(&empty).contains("No data for this chart"));
    }
}
