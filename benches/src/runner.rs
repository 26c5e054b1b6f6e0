//! Timing: for each case, one warm-up pass then `passes` passes; within a
//! pass every peer runs `reps` operations, in an order that rotates from
//! pass to pass, so all peers see the same machine state. Only the
//! operation itself is timed (inputs are built, inserted rows deleted and
//! changed data reseeded outside the clock), and every operation's count
//! is checked (and, for W7, the data it left). An out-of-process peer
//! (SQLAlchemy) times the operation itself and reports it in `Outcome::elapsed`,
//! which then replaces the runner's clock (so the pipe round trip is not
//! charged to it).
//!
//! The floor of every ratio is raw sqlx on one bare connection
//! (`Peer::Sqlx`); every ratio is taken within one pass, and the report
//! gives the median of the per-pass ratios with their min-max.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::peers::Peer;
use crate::workloads::w6_templates::W6Row;
use crate::workloads::{self, Backend, Case, Ctx};

pub fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    v[v.len() / 2]
}

pub struct PeerResult {
    pub peer: Peer,
    /// Time per operation, one entry per pass.
    pub per_pass: Vec<Duration>,
    /// Statements per operation (the last one seen).
    pub statements: u64,
    /// Peak heap bytes of one operation (`memory::measure`), for in-process peers.
    pub peak_heap: Option<u64>,
}

pub struct CaseResult {
    pub id: &'static str,
    pub label: String,
    pub peers: Vec<PeerResult>,
}

impl CaseResult {
    /// Ratios to the floor (raw sqlx on its bare connection), one per pass.
    pub fn ratios(&self, p: &PeerResult) -> Vec<f64> {
        let base = self.peers.iter().find(|b| b.peer == Peer::Sqlx).expect("sqlx baseline");
        p.per_pass.iter().zip(&base.per_pass).map(|(t, b)| t.as_secs_f64() / b.as_secs_f64()).collect()
    }
}

pub struct BackendReport {
    pub backend: Backend,
    pub version: String,
    pub passes: usize,
    pub cases: Vec<CaseResult>,
    /// The SQLAlchemy peer's process: `sqlalchemy <version> <driver>` and its peak RSS (KiB) after all cases.
    pub sqla: (String, u64),
    /// How the peers' connections got their view of the statistics.
    pub statistics: String,
    /// SQLite: the pragmas read back on every peer's connection.
    pub pragmas: Option<String>,
}

pub async fn run_backend(
    backend: Backend,
    options: crate::Options,
) -> Result<BackendReport, Box<dyn std::error::Error>> {
    let quick = options.quick;
    eprintln!("[{}] seeding", backend.name());
    let ctx = workloads::setup(backend, quick, options.stale_stats).await?;
    eprintln!("[{}] statistics: {}", backend.name(), ctx.statistics);
    if let Some(p) = &ctx.pragmas {
        eprintln!("[{}] {p}", backend.name());
    }
    let passes = if quick { 3 } else { 7 };
    let mut cases = Vec::new();
    for case in workloads::cases(quick, backend) {
        if options.only.is_some_and(|only| !only.iter().any(|w| w == case.id)) {
            continue;
        }
        eprintln!("[{}] {} {}", backend.name(), case.id, case.label);
        // A peer's connection that was reopened would have lost its pragmas.
        workloads::check_pragmas(&ctx).await?;
        cases.push(run_case(&ctx, &case, passes).await?);
    }
    let sqla = (ctx.sqla.version.clone(), ctx.sqla.peak_rss_kib());
    Ok(BackendReport {
        backend,
        version: ctx.version.clone(),
        passes,
        cases,
        sqla,
        statistics: ctx.statistics.clone(),
        pragmas: ctx.pragmas.clone(),
    })
}

async fn run_case(ctx: &Ctx, case: &Case, passes: usize) -> Result<CaseResult, Box<dyn std::error::Error>> {
    let input = workloads::input(case.kind);
    let want = workloads::expected(ctx, case.kind);
    let mut peers: Vec<PeerResult> = case
        .peers
        .iter()
        .map(|&peer| PeerResult { peer, per_pass: Vec::new(), statements: 0, peak_heap: None })
        .collect();
    workloads::prepare(ctx, case.kind).await?;
    for pass in 0..=passes {
        let k = peers.len();
        for j in 0..k {
            let i = (j + pass) % k;
            let peer = peers[i].peer;
            let mut timed = Duration::ZERO;
            for _ in 0..case.reps {
                let started = Instant::now();
                let out = workloads::run(ctx, peer, case.kind, &input).await?;
                // An out-of-process peer reports its own time (no pipe round trip).
                timed += out.elapsed.unwrap_or_else(|| started.elapsed());
                if let Err(e) = workloads::check(ctx, case.kind).await {
                    let (id, backend) = (case.id, ctx.backend.name());
                    return Err(
                        format!("{id} {} on {backend}: {} left the data wrong: {e}", case.label, peer.name()).into()
                    );
                }
                workloads::cleanup(ctx, case.kind).await?;
                if out.count != want {
                    return Err(format!(
                        "{} {} on {}: {} returned {}, expected {}",
                        case.id,
                        case.label,
                        ctx.backend.name(),
                        peer.name(),
                        out.count,
                        want
                    )
                    .into());
                }
                peers[i].statements = out.statements;
            }
            if pass > 0 {
                peers[i].per_pass.push(timed / case.reps as u32);
            }
        }
    }
    // One more operation per in-process peer, untimed, for its peak heap.
    for p in &mut peers {
        if p.peer == Peer::SqlAlchemy {
            continue;
        }
        let (out, peak) = crate::memory::measure(workloads::run(ctx, p.peer, case.kind, &input)).await;
        out?;
        workloads::cleanup(ctx, case.kind).await?;
        p.peak_heap = Some(peak);
    }
    Ok(CaseResult { id: case.id, label: case.label.clone(), peers })
}

fn fmt_time(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// Two decimals, three significant digits below 0.1 (a cache hit is
/// hundreds of times faster than the query).
fn fmt_ratio(x: f64) -> String {
    if x >= 0.1 { format!("{x:.2}") } else { format!("{x:.1e}") }
}

pub fn markdown(reports: &[BackendReport], w6: Option<&[W6Row]>) -> String {
    let mut o = String::new();
    for r in reports {
        let _ = writeln!(o, "#### {} ({}), {} passes\n", r.backend.name(), r.version, r.passes);
        let _ = writeln!(o, "Statistics: {}.", r.statistics);
        if let Some(p) = &r.pragmas {
            let _ = writeln!(o, "SQLite file: {p}.");
        }
        o.push('\n');
        let _ = writeln!(
            o,
            "| id | operation | peer | median / op | ratio to floor (sqlx) | ratio min-max | statements / op | peak heap / op |"
        );
        let _ = writeln!(o, "|---|---|---|---:|---:|---:|---:|---:|");
        for c in &r.cases {
            for p in &c.peers {
                let ratios = c.ratios(p);
                let (lo, hi) = ratios.iter().fold((f64::MAX, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {}x | {}-{} | {} | {} |",
                    c.id,
                    c.label,
                    p.peer.name(),
                    fmt_time(median(p.per_pass.clone())),
                    fmt_ratio(median(ratios.clone())),
                    fmt_ratio(lo),
                    fmt_ratio(hi),
                    p.statements,
                    p.peak_heap.map_or_else(|| "RSS below".to_string(), crate::memory::fmt_bytes)
                );
            }
        }
        let (version, rss) = &r.sqla;
        let _ = writeln!(o, "\nSQLAlchemy process ({version}) peak RSS: {:.0} MiB", *rss as f64 / 1024.0);
        o.push('\n');
    }
    if let Some(rows) = w6 {
        let _ = writeln!(o, "#### W6: SQL + parameters, no database (ns per statement)\n");
        let _ = writeln!(o, "| IN list | sea-query fresh | template | speed-up (median) | speed-up min-max |");
        let _ = writeln!(o, "|---:|---:|---:|---:|---:|");
        for r in rows {
            let ups: Vec<f64> = r.fresh.iter().zip(&r.template).map(|(f, t)| f / t).collect();
            let (lo, hi) = ups.iter().fold((f64::MAX, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
            let _ = writeln!(
                o,
                "| {} | {:.0} | {:.0} | {:.1}x | {:.1}-{:.1} |",
                r.n,
                median(r.fresh.clone()),
                median(r.template.clone()),
                median(ups.clone()),
                lo,
                hi
            );
        }
        o.push('\n');
    }
    o
}
