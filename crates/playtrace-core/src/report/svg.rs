//! A latency distribution chart as a standalone SVG: a histogram of the samples with the budget
//! as a vertical line, so a QA reviewer sees at a glance how much of the tail is over it.

use crate::num::human;
use std::fmt::Write;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 32.0;
const TOP: f64 = 28.0;
const BINS: usize = 24;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A histogram of `samples` (ms) titled `title`, with `budget_ms` drawn as a red line.
pub fn latency_chart(title: &str, samples: &[f64], budget_ms: f64) -> String {
    let max = samples.iter().copied().fold(budget_ms, f64::max).max(1.0) * 1.05;
    let mut counts = [0u64; BINS];
    for &s in samples {
        let bin = ((s / max) * BINS as f64).floor() as usize;
        counts[bin.min(BINS - 1)] += 1;
    }
    let peak = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let plot_w = WIDTH - LEFT - 12.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |ms: f64| LEFT + ms / max * plot_w;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        svg,
        r#"<title>{}</title><text x="{LEFT}" y="16" font-size="13">{} ({} samples)</text>"#,
        escape(title),
        escape(title),
        samples.len()
    );
    let bar_w = plot_w / BINS as f64;
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let h = c as f64 / peak * plot_h;
        let left = LEFT + i as f64 * bar_w;
        let over = left + bar_w / 2.0 > x(budget_ms);
        let _ = write!(
            svg,
            r##"<rect x="{left:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{c}</title></rect>"##,
            TOP + plot_h - h,
            bar_w - 1.0,
            if over { "#e8a09a" } else { "#8fb8de" }
        );
    }
    let axis_y = TOP + plot_h;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{axis_y}" x2="{:.1}" y2="{axis_y}" stroke="#444"/>"##,
        LEFT + plot_w
    );
    for tick in 0..=4 {
        let ms = max * f64::from(tick) / 4.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{} ms</text>"#,
            x(ms),
            axis_y + 16.0,
            human(ms.round())
        );
    }
    let bx = x(budget_ms);
    let _ = write!(
        svg,
        r##"<line x1="{bx:.1}" y1="{TOP}" x2="{bx:.1}" y2="{axis_y}" stroke="#c0392b" stroke-width="2" stroke-dasharray="5,3"/><text x="{:.1}" y="{:.1}" fill="#c0392b">budget {} ms</text>"##,
        bx + 4.0,
        TOP + 12.0,
        human(budget_ms)
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_draws_bars_the_budget_line_and_escapes_the_title() {
        let svg = latency_chart("resolution <p95>", &[100.0, 200.0, 900.0, 950.0], 800.0);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("resolution &lt;p95&gt; (4 samples)"));
        assert!(svg.contains("budget 800 ms"));
        assert_eq!(svg.matches("<rect").count(), 4);
        assert_eq!(
            svg.matches("#e8a09a").count(),
            2,
            "two bars over the budget"
        );
        assert!(latency_chart("empty", &[], 800.0).contains("(0 samples)"));
    }
}
