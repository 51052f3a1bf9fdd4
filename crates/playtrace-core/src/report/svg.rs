//! A latency distribution chart as a standalone SVG, one per budget: a histogram of the samples
//! with a counted y-axis, round x ticks, the budget as a dashed line and the budget's percentile
//! as a solid marker, both labelled and in a legend, and the verdict in the title. Everything is
//! drawn as shapes and text (no hover titles), so it reads the same on GitHub, in a PNG or in
//! print.

use crate::budget::{BudgetResult, BudgetStatus};
use crate::num::human;
use std::fmt::Write;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 300.0;
/// Room for the y tick labels and the rotated y-axis title.
const LEFT: f64 = 64.0;
/// Room for the last x tick label, centred on the right edge of the plot.
const RIGHT: f64 = 40.0;
/// The title and the legend.
const TOP: f64 = 64.0;
/// The x tick labels and the x-axis title.
const BOTTOM: f64 = 48.0;
const BINS: usize = 20;

const WITHIN: &str = "#8fb8de";
const OVER: &str = "#e8a09a";
const BUDGET: &str = "#c0392b";
const MARKER: &str = "#222222";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round step near `raw` (1, 2, 2.5 or 5 times a power of ten).
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 2.5 {
        2.5
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// Round ticks from 0 covering `max`: (step, axis end), at most about `count` steps.
fn ticks(max: f64, count: f64) -> (f64, f64) {
    let step = nice_step(max / count);
    let end = (max / step).ceil().max(1.0) * step;
    (step, end)
}

/// A whole-number tick step for counts (1, 2, 5, 10, ...).
fn count_ticks(peak: u64) -> (u64, u64) {
    let step = (nice_step(peak as f64 / 4.0).ceil() as u64).max(1);
    let end = peak.div_ceil(step).max(1) * step;
    (step, end)
}

/// The verdict words and colour of the title.
fn verdict(status: BudgetStatus) -> (&'static str, &'static str) {
    match status {
        BudgetStatus::Pass => ("PASS", "#1e7b34"),
        BudgetStatus::Breach => ("BREACH", BUDGET),
        BudgetStatus::InsufficientData => ("NOT ENOUGH DATA", "#666666"),
    }
}

/// A text label at `x` that stays inside the plot: anchored at its start right of `x`, or at
/// its end left of `x` when it would run past the right edge. A white halo keeps it readable
/// over bars.
fn label(svg: &mut String, x: f64, y: f64, colour: &str, text: &str, right_edge: f64) {
    // About 6.5 px per character at 11 px sans-serif.
    let width = text.chars().count() as f64 * 6.5;
    let (x, anchor) = if x + 4.0 + width <= right_edge {
        (x + 4.0, "start")
    } else {
        (x - 4.0, "end")
    };
    let _ = write!(
        svg,
        r##"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" fill="{colour}" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text>"##,
        escape(text)
    );
}

/// A histogram of `samples` (ms) of `title` (e.g. "Resolution latency") against `budget`: its
/// limit as a dashed line, its percentile value as a solid marker, its status in the title.
pub fn latency_chart(title: &str, samples: &[f64], budget: &BudgetResult) -> String {
    let limit = budget.budget.0;
    let percentile = human(budget.percentile.0);
    let value = budget.value.map(|v| v.0);
    let data_max = samples.iter().copied().fold(0.0, f64::max);
    let (x_step, x_end) = ticks(data_max.max(limit).max(value.unwrap_or(0.0)), 5.0);
    let mut counts = [0u64; BINS];
    for &s in samples {
        let bin = ((s / x_end) * BINS as f64).floor().max(0.0) as usize;
        counts[bin.min(BINS - 1)] += 1;
    }
    let peak = counts.iter().copied().max().unwrap_or(0);
    let (y_step, y_end) = count_ticks(peak);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let right = LEFT + plot_w;
    let axis_y = TOP + plot_h;
    let x = |ms: f64| LEFT + ms / x_end * plot_w;
    let y = |count: f64| axis_y - count / y_end as f64 * plot_h;

    let (word, colour) = verdict(budget.status);
    let measured = value.map_or("no samples".to_string(), |v| {
        format!("p{percentile} {} ms", human(v))
    });
    let heading = format!(
        "{title}: {word} ({measured}, budget {} ms, {} samples)",
        human(limit),
        samples.len()
    );
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        svg,
        r##"<title>{0}</title><rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/><text x="{LEFT}" y="18" font-size="13" font-weight="bold" fill="{colour}">{0}</text>"##,
        escape(&heading)
    );

    // The legend: what each colour and line means, with the values.
    let legend_y = 40.0;
    let mut lx = LEFT;
    let mut item = |svg: &mut String, mark: String, text: String| {
        svg.push_str(&mark.replace("{X}", &format!("{lx:.1}")));
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 18.0,
            legend_y + 4.0,
            escape(&text)
        );
        lx += 18.0 + text.chars().count() as f64 * 6.5 + 16.0;
    };
    let swatch = |fill: &str| {
        format!(
            r#"<rect x="{{X}}" y="{:.1}" width="12" height="10" fill="{fill}"/>"#,
            legend_y - 5.0
        )
    };
    item(&mut svg, swatch(WITHIN), "within budget".into());
    item(&mut svg, swatch(OVER), "over budget".into());
    item(
        &mut svg,
        format!(
            r#"<path d="M{{X}} {legend_y} h14" stroke="{BUDGET}" stroke-width="2" stroke-dasharray="4,3"/>"#
        ),
        format!("budget {} ms", human(limit)),
    );
    if let Some(v) = value {
        item(
            &mut svg,
            format!(r#"<path d="M{{X}} {legend_y} h14" stroke="{MARKER}" stroke-width="2"/>"#),
            format!("p{percentile} {} ms", human(v)),
        );
    }

    // Gridlines and the y-axis (contests per bin).
    let mut tick = 0;
    while tick <= y_end {
        let ty = y(tick as f64);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{right:.1}" y2="{ty:.1}" stroke="#e6e6e6"/><text x="{:.1}" y="{:.1}" text-anchor="end">{tick}</text>"##,
            LEFT - 6.0,
            ty + 4.0
        );
        tick += y_step;
    }
    let _ = write!(
        svg,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle">samples per bin</text>"#,
        TOP + plot_h / 2.0
    );

    // The bars: red where the bin lies over the budget.
    let bar_w = plot_w / BINS as f64;
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let left = LEFT + i as f64 * bar_w;
        let over = (i as f64 + 0.5) * x_end / BINS as f64 > limit;
        let _ = write!(
            svg,
            r#"<rect x="{left:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
            y(c as f64),
            bar_w - 1.0,
            axis_y - y(c as f64),
            if over { OVER } else { WITHIN }
        );
    }
    if samples.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#666666">no samples</text>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }

    // Axes and the x ticks (ms).
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{axis_y}" x2="{right:.1}" y2="{axis_y}" stroke="#444444"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{axis_y}" stroke="#444444"/>"##
    );
    let steps = (x_end / x_step).round() as u32;
    for i in 0..=steps {
        let ms = x_step * f64::from(i);
        let tx = x(ms);
        let _ = write!(
            svg,
            r##"<line x1="{tx:.1}" y1="{axis_y}" x2="{tx:.1}" y2="{:.1}" stroke="#444444"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            axis_y + 4.0,
            axis_y + 16.0,
            human(ms)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{} (ms)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 10.0,
        escape(&title.to_lowercase())
    );

    // The budget line and the percentile marker, each labelled at the top of the plot on its
    // own row, so the two labels never overlap each other.
    let bx = x(limit);
    let _ = write!(
        svg,
        r#"<line x1="{bx:.1}" y1="{TOP}" x2="{bx:.1}" y2="{axis_y}" stroke="{BUDGET}" stroke-width="2" stroke-dasharray="5,3"/>"#
    );
    label(
        &mut svg,
        bx,
        TOP + 12.0,
        BUDGET,
        &format!("budget {} ms", human(limit)),
        right,
    );
    if let Some(v) = value {
        let px = x(v);
        let _ = write!(
            svg,
            r#"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{axis_y}" stroke="{MARKER}" stroke-width="2"/>"#
        );
        label(
            &mut svg,
            px,
            TOP + 26.0,
            MARKER,
            &format!("p{percentile} {} ms", human(v)),
            right,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Metric;
    use crate::num::Num;

    fn budget(limit: f64, value: Option<f64>, status: BudgetStatus) -> BudgetResult {
        BudgetResult {
            metric: Metric::Resolution,
            percentile: Num(95.0),
            budget: Num(limit),
            value: value.map(Num),
            samples: 4,
            status,
        }
    }

    #[test]
    fn the_chart_says_the_verdict_and_marks_the_budget_and_the_p95() {
        let svg = latency_chart(
            "Resolution <latency>",
            &[100.0, 200.0, 900.0, 950.0],
            &budget(800.0, Some(950.0), BudgetStatus::Breach),
        );
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg
            .contains("Resolution &lt;latency&gt;: BREACH (p95 950 ms, budget 800 ms, 4 samples)"));
        assert!(svg.contains(">budget 800 ms</text>"));
        assert!(svg.contains(">p95 950 ms</text>"));
        assert_eq!(
            svg.matches(OVER).count(),
            2 + 1,
            "two bars and the legend swatch"
        );
        // Round ticks: 0, 200, ..., 1000 (not 341/683/1024).
        for t in ["0", "200", "400", "600", "800", "1000"] {
            assert!(svg.contains(&format!(">{t}</text>")), "tick {t}");
        }
        assert!(
            !svg.contains("<title>2</title>"),
            "no counts hidden in hover titles"
        );
    }

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        assert_eq!(ticks(1365.0, 5.0), (500.0, 1500.0));
        assert_eq!(ticks(930.0, 5.0), (200.0, 1000.0));
        assert_eq!(ticks(9200.0, 5.0), (2000.0, 10000.0));
        assert_eq!(count_ticks(0), (1, 1));
        assert_eq!(count_ticks(7), (2, 8));
        assert_eq!(count_ticks(100), (25, 100));
    }

    #[test]
    fn no_samples_is_said_not_drawn() {
        let svg = latency_chart(
            "Arming latency",
            &[],
            &budget(8000.0, None, BudgetStatus::InsufficientData),
        );
        assert!(
            svg.contains("Arming latency: NOT ENOUGH DATA (no samples, budget 8000 ms, 0 samples)")
        );
        assert!(svg.contains(">no samples</text>"));
    }
}
