//! `skiff usage [NAME] [--since 24h] [--by minute|hour|day]`: what scripts used, from the
//! usage every node ships to the control plane (`GET /v1/usage`): requests, errors, CPU
//! milliseconds (total, p50 and p99 per request), wall milliseconds and egress, per period;
//! as a table, or as JSON.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use reqwest::Method;
use skiff_protocol::usage::{UsageReport, UsageRow};
use skiff_runtime::escape_control;

use crate::client::{Client, ControlArgs};
use crate::platform::Format;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Period {
    Minute,
    Hour,
    Day,
}

impl Period {
    fn as_str(self) -> &'static str {
        match self {
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }
}

#[derive(Args)]
pub struct UsageArgs {
    /// The script (every script when omitted).
    name: Option<String>,
    /// How far back: 90m, 24h, 7d.
    #[arg(long, default_value = "24h", value_parser = crate::parse_duration)]
    since: Duration,
    /// One row per minute, hour or day (UTC).
    #[arg(long, value_enum, default_value_t = Period::Hour)]
    by: Period,
    #[arg(long, value_enum, default_value_t = Format::Pretty)]
    format: Format,
    #[command(flatten)]
    control: ControlArgs,
}

pub async fn run(args: UsageArgs) -> Result<()> {
    let client = Client::new(&args.control)?;
    let since_ms = now_ms().saturating_sub(args.since.as_millis() as u64);
    let mut path = format!("/v1/usage?since_ms={since_ms}&by={}", args.by.as_str());
    if let Some(name) = &args.name {
        skiff_protocol::validate_script_name(name).map_err(anyhow::Error::msg)?;
        path.push_str(&format!("&script={name}"));
    }
    let report: UsageReport = client
        .json(client.request(Method::GET, &path))
        .await
        .context("reading the usage")?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.rows.is_empty() {
        println!("No usage recorded in that time.");
    } else {
        print!("{}", table(&report, args.by));
    }
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The start of a period in UTC: `2026-12-02 21:00`, or `2026-12-02` by day.
fn period_label(start_ms: u64, by: Period) -> String {
    let seconds = start_ms / 1000;
    let days = seconds / 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let (hour, minute) = ((seconds % 86_400) / 3600, (seconds % 3600) / 60);
    match by {
        Period::Day => format!("{year:04}-{month:02}-{day:02}"),
        _ => format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}"),
    }
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Bytes as `512 B`, `1.5 KB`, `2.0 MB`, `3.1 GB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

fn cells(period: String, row: &UsageRow) -> [String; 9] {
    [
        escape_control(&row.script).into_owned(),
        period,
        row.requests.to_string(),
        row.errors.to_string(),
        format!("{:.1}", row.cpu_ms),
        format!("{:.2}", row.cpu_ms_p50),
        format!("{:.2}", row.cpu_ms_p99),
        format!("{:.1}", row.wall_ms),
        bytes(row.response_bytes),
    ]
}

/// One line per script per period, then a total per script; columns as wide as their
/// widest cell, numbers right-aligned.
fn table(report: &UsageReport, by: Period) -> String {
    let header = [
        "script",
        by.as_str(),
        "requests",
        "errors",
        "cpu ms",
        "cpu p50",
        "cpu p99",
        "wall ms",
        "egress",
    ];
    let mut rows: Vec<[String; 9]> = report
        .rows
        .iter()
        .map(|row| cells(period_label(row.start_ms, by), row))
        .collect();
    rows.extend(report.totals.iter().map(|row| cells("total".into(), row)));
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            let pad = width - cell.chars().count();
            if i < 2 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
            out.push_str("  ");
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.map(str::to_string));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_named_in_utc() {
        // 2026-12-02 21:37:12 UTC.
        let ms = 1_796_247_432_000;
        assert_eq!(period_label(ms, Period::Hour), "2026-12-02 21:37");
        assert_eq!(period_label(ms, Period::Day), "2026-12-02");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
    }

    #[test]
    fn the_table_has_a_line_per_row_and_a_total() {
        let row = UsageRow {
            script: "api".into(),
            start_ms: 0,
            requests: 100,
            errors: 2,
            cpu_ms: 2012.5,
            cpu_ms_p50: 20.1,
            cpu_ms_p99: 22.3,
            wall_ms: 2500.0,
            response_bytes: 1_500_000,
            ..UsageRow::default()
        };
        let report = UsageReport {
            since_ms: 0,
            by: "hour".into(),
            rows: vec![row.clone()],
            totals: vec![row],
        };
        let text = table(&report, Period::Hour);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("script"), "{text}");
        assert!(
            lines[1].contains("1970-01-01 00:00") && lines[1].contains("2012.5"),
            "{text}"
        );
        assert!(
            lines[2].contains("total") && lines[2].ends_with("1.5 MB"),
            "{text}"
        );
    }
}
