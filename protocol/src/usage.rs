//! Usage metering on the wire: what a node ships (`POST /v1/usage`, a [`UsageBatch`]) and what
//! the control plane answers (`GET /v1/usage`, a [`UsageReport`]).
//!
//! A node adds up its invocations per script per minute ([`UsageAggregate`]); CPU time per
//! invocation goes into a [`CpuHistogram`], so that p50 and p99 survive adding minutes, nodes
//! and hours together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How an invocation ended, with the names Cloudflare's Tail Workers and analytics use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    #[serde(rename = "ok")]
    Ok,
    /// The handler threw (or its promise rejected).
    #[serde(rename = "exception")]
    Exception,
    /// The isolate went over its CPU limit.
    #[serde(rename = "exceededCpu")]
    ExceededCpu,
    /// The isolate went over its memory limit.
    #[serde(rename = "exceededMemory")]
    ExceededMemory,
    /// The client went away before the response was sent.
    #[serde(rename = "canceled")]
    Canceled,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Exception,
        Outcome::ExceededCpu,
        Outcome::ExceededMemory,
        Outcome::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Exception => "exception",
            Outcome::ExceededCpu => "exceededCpu",
            Outcome::ExceededMemory => "exceededMemory",
            Outcome::Canceled => "canceled",
        }
    }

    /// Everything but `ok` counts as an error in `skiff usage`.
    pub fn is_error(self) -> bool {
        self != Outcome::Ok
    }
}

/// Buckets per doubling of CPU time: each bucket is about 19 % wide, so a percentile read from
/// the histogram is within about 10 % of the true one.
const BUCKETS_PER_OCTAVE: f64 = 4.0;

/// CPU time per invocation, in logarithmic buckets: bucket `i` holds times from
/// `2^(i/4)` microseconds up to the next bucket's start; bucket 0 also holds zero.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CpuHistogram(pub BTreeMap<u16, u64>);

impl CpuHistogram {
    fn bucket(micros: u64) -> u16 {
        if micros <= 1 {
            return 0;
        }
        ((micros as f64).log2() * BUCKETS_PER_OCTAVE).floor() as u16
    }

    /// The middle of a bucket (geometric), in microseconds.
    fn middle(bucket: u16) -> f64 {
        2f64.powf((f64::from(bucket) + 0.5) / BUCKETS_PER_OCTAVE)
    }

    pub fn record(&mut self, micros: u64) {
        *self.0.entry(Self::bucket(micros)).or_default() += 1;
    }

    pub fn merge(&mut self, other: &CpuHistogram) {
        for (bucket, count) in &other.0 {
            *self.0.entry(*bucket).or_default() += count;
        }
    }

    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The `q` quantile (0 to 1) in microseconds; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in &self.0 {
            seen += count;
            if seen >= rank {
                return Some(Self::middle(*bucket));
            }
        }
        self.0.keys().next_back().map(|b| Self::middle(*b))
    }
}

/// One script's invocations on one node in one minute (and for one trigger kind).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageAggregate {
    pub script: String,
    /// The start of the minute, in milliseconds since the Unix epoch.
    pub minute_ms: u64,
    /// Invocations by how they ended.
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Of which scheduled (cron) invocations; the rest are fetches.
    #[serde(default)]
    pub scheduled: u64,
    /// CPU time on the isolate thread's CPU clock (the one the CPU limit uses).
    pub cpu_us: u64,
    pub wall_us: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub subrequests: u64,
    pub cpu_histogram: CpuHistogram,
}

impl UsageAggregate {
    pub fn requests(&self) -> u64 {
        self.outcomes.values().sum()
    }

    pub fn errors(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(outcome, _)| outcome.is_error())
            .map(|(_, count)| count)
            .sum()
    }

    /// Adds `other` (of the same script) into this one.
    pub fn merge(&mut self, other: &UsageAggregate) {
        for (outcome, count) in &other.outcomes {
            *self.outcomes.entry(*outcome).or_default() += count;
        }
        self.scheduled += other.scheduled;
        self.cpu_us += other.cpu_us;
        self.wall_us += other.wall_us;
        self.request_bytes += other.request_bytes;
        self.response_bytes += other.response_bytes;
        self.subrequests += other.subrequests;
        self.cpu_histogram.merge(&other.cpu_histogram);
    }
}

/// `POST /v1/usage` body (node, session): aggregates the node has not shipped before. `id` is
/// unique per batch and the same when a batch is sent again after a failed post, so the
/// control plane stores each batch once however often it arrives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageBatch {
    pub id: String,
    pub aggregates: Vec<UsageAggregate>,
}

/// One row of `GET /v1/usage`: one script (or every script, `script` empty) over one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub script: String,
    /// The start of the period (minute, hour or day, UTC), in milliseconds since the epoch.
    pub start_ms: u64,
    pub requests: u64,
    pub errors: u64,
    pub outcomes: BTreeMap<Outcome, u64>,
    pub scheduled: u64,
    pub cpu_ms: f64,
    /// Per invocation, from the CPU histogram (within about 10 %).
    pub cpu_ms_p50: f64,
    pub cpu_ms_p99: f64,
    pub wall_ms: f64,
    pub request_bytes: u64,
    /// Egress: response bytes sent to clients.
    pub response_bytes: u64,
    pub subrequests: u64,
}

/// `GET /v1/usage?script=NAME&since_ms=T&by=minute|hour|day` answer: one row per script per
/// period, oldest first, and a total per script.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    pub since_ms: u64,
    pub by: String,
    pub rows: Vec<UsageRow>,
    pub totals: Vec<UsageRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets_within_ten_percent() {
        let mut histogram = CpuHistogram::default();
        for micros in 1..=1000u64 {
            histogram.record(micros * 100);
        }
        let p50 = histogram.quantile(0.5).expect("not empty");
        let p99 = histogram.quantile(0.99).expect("not empty");
        assert!((p50 / 50_000.0 - 1.0).abs() < 0.1, "{p50}");
        assert!((p99 / 99_000.0 - 1.0).abs() < 0.1, "{p99}");
        assert_eq!(CpuHistogram::default().quantile(0.5), None);
    }

    #[test]
    fn outcomes_use_cloudflare_names_and_merge() {
        let mut a = UsageAggregate {
            script: "s".into(),
            cpu_us: 5,
            ..Default::default()
        };
        a.outcomes.insert(Outcome::Ok, 2);
        let mut b = a.clone();
        b.outcomes.insert(Outcome::ExceededCpu, 1);
        a.merge(&b);
        assert_eq!((a.requests(), a.errors(), a.cpu_us), (5, 1, 10));
        let json = serde_json::to_string(&b.outcomes).expect("serialises");
        assert_eq!(json, r#"{"ok":2,"exceededCpu":1}"#);
    }
}
