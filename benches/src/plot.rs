//! `docs/benchmarks.svg`: for each backend, a group of bars per case, one
//! bar per peer, the median ratio to raw sqlx on a log scale, drawn from
//! the 1.0x line (a bar going down is faster than raw sqlx).

use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::peers::Peer;
use crate::runner::{BackendReport, median};

/// One colour per peer but the baseline, in the order first seen (orm, seaorm, sqlalchemy, ..): room for
/// every peer, so none shares a colour.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// A case's short name: its id, plus its first number when the id has several cases.
fn short(r: &BackendReport, i: usize) -> String {
    let c = &r.cases[i];
    if r.cases.iter().filter(|o| o.id == c.id).count() < 2 {
        return c.id.to_string();
    }
    let digits: String = c
        .label
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|ch| ch.is_ascii_digit()))
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let n = match digits.parse::<u64>() {
        Ok(n) if n >= 1000 && n % 1000 == 0 => format!("{}k", n / 1000),
        Ok(n) => n.to_string(),
        Err(_) => String::new(),
    };
    format!("{} {n}", c.id)
}

pub fn write_svg(path: &str, reports: &[BackendReport]) -> Result<(), Box<dyn std::error::Error>> {
    // Every peer but the baseline, in the order first seen (one colour each).
    let mut peers: Vec<Peer> = Vec::new();
    for c in reports.iter().flat_map(|r| &r.cases) {
        for p in &c.peers {
            if p.peer != Peer::Sqlx && !peers.contains(&p.peer) {
                peers.push(p.peer);
            }
        }
    }
    let ratios: Vec<f64> = reports
        .iter()
        .flat_map(|r| &r.cases)
        .flat_map(|c| c.peers.iter().filter(|p| p.peer != Peer::Sqlx).map(move |p| median(c.ratios(p))))
        .collect();
    // Room under the lowest bar for the case names.
    let lo = ratios.iter().copied().fold(0.5f64, f64::min) * 0.55;
    let hi = ratios.iter().copied().fold(2.0f64, f64::max) * 1.25;

    let root = SVGBackend::new(path, (1100, 340 * reports.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((reports.len().max(1), 1));
    let width = 0.8 / peers.len().max(1) as f64;
    for (r, area) in reports.iter().zip(&panels) {
        let n = r.cases.len();
        let names: Vec<String> = (0..n).map(|i| short(r, i)).collect();
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{} ({}): median time / the floor (raw sqlx, bare connection), log scale",
                    r.backend.name(),
                    r.version
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(5)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..n as f64, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0)
            .y_label_formatter(&|_| String::new())
            .y_desc("ratio to the floor")
            .draw()?;
        // Grid lines at 1, 2 and 5 times each power of ten in range.
        let grid: Vec<f64> =
            (-3..4).flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e))).filter(|y| (lo..hi).contains(y)).collect();
        // Labelled inside the plot, just above each line (plotters' own log ticks skip some below 1).
        let tick = TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Left, VPos::Bottom));
        for y in grid {
            chart
                .draw_series(LineSeries::new([(0.0, y), (n as f64, y)], RGBColor(0xdd, 0xdd, 0xdd).stroke_width(1)))?;
            let text = format!("{}x", (y * 1000.0).round() / 1000.0);
            chart.draw_series([Text::new(text, (0.01, y), tick.clone())])?;
        }
        for (j, &peer) in peers.iter().enumerate() {
            let colour = PALETTE[j % PALETTE.len()];
            let bars: Vec<Rectangle<(f64, f64)>> = r
                .cases
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let p = c.peers.iter().find(|p| p.peer == peer)?;
                    let ratio = median(c.ratios(p));
                    let x = i as f64 + 0.1 + j as f64 * width;
                    Some(Rectangle::new([(x, 1.0), (x + width * 0.9, ratio)], colour.filled()))
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(peer.name())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        }
        let label = TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(
            names.iter().enumerate().map(|(i, s)| Text::new(s.clone(), (i as f64 + 0.5, lo * 1.03), label.clone())),
        )?;
        chart.draw_series(LineSeries::new([(0.0, 1.0), (n as f64, 1.0)], BLACK.stroke_width(1)))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperMiddle)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
