//! Runs a script's scheduled handler once: for a cron tick the control plane gave the node
//! (`sync/scheduled.rs`), or for `skiff dev --test-scheduled` (`/__scheduled?cron=...`, as
//! wrangler has it, and `/cdn-cgi/handler/scheduled`).

use std::time::{Duration, SystemTime};

use skiff_protocol::ScheduledReport;
use skiff_protocol::usage::Outcome;
use skiff_runtime::{LimitKind, RuntimeError, ScheduledRequest};

use crate::registry::ScriptRegistry;
use crate::usage::{Trigger, Usage};

/// The paths that fire the scheduled handler on a node started with `test_scheduled`.
pub(crate) const TEST_PATHS: [&str; 2] = ["/__scheduled", "/cdn-cgi/handler/scheduled"];

/// Runs `script`'s scheduled handler for `cron` due at `scheduled_time_ms`, metered like a
/// request, within `wall_clock` (its `waitUntil` work included).
pub(crate) async fn run(
    registry: &ScriptRegistry,
    usage: &std::sync::Arc<Usage>,
    script: &str,
    cron: &str,
    scheduled_time_ms: u64,
    wall_clock: Duration,
) -> ScheduledReport {
    let failed = |outcome| ScheduledReport {
        outcome,
        no_retry: false,
    };
    let isolate = match registry.isolate(script).await {
        Some(Ok(isolate)) => isolate,
        Some(Err(err)) => {
            tracing::warn!(script, %err, "scheduled event: the worker did not start");
            return failed(Outcome::Exception);
        }
        None => {
            tracing::warn!(
                script,
                "scheduled event for a script this node does not serve"
            );
            return failed(Outcome::Exception);
        }
    };
    let metered = usage.meter(script, isolate.version(), Trigger::Scheduled);
    let request = ScheduledRequest {
        cron: cron.to_string(),
        scheduled_time_ms,
        meter: Some(metered.meter().clone()),
    };
    let result = tokio::time::timeout(wall_clock, isolate.scheduled(request)).await;
    if let Ok(Err(err)) = &result
        && !matches!(err, RuntimeError::Limit { startup: false, .. })
    {
        // The handler never ran.
        metered.discard();
    }
    match result {
        Ok(Ok(result)) => ScheduledReport {
            outcome: if result.ok {
                Outcome::Ok
            } else {
                Outcome::Exception
            },
            no_retry: result.no_retry,
        },
        Ok(Err(RuntimeError::Limit { kind, .. })) => failed(match kind {
            LimitKind::Memory => Outcome::ExceededMemory,
            _ => Outcome::ExceededCpu,
        }),
        Ok(Err(err)) => {
            tracing::warn!(script, %err, "scheduled event failed");
            failed(Outcome::Exception)
        }
        Err(_) => {
            tracing::warn!(script, "scheduled event exceeded the wall clock limit");
            failed(Outcome::Exception)
        }
    }
}

/// The `cron` and `time` (milliseconds since the epoch; now when absent) of a test request's
/// query string.
pub(crate) fn test_params(query: Option<&str>) -> (String, u64) {
    let mut cron = String::new();
    let mut time = None;
    for (key, value) in form_urlencoded_pairs(query.unwrap_or("")) {
        match key.as_str() {
            "cron" => cron = value,
            "time" => time = value.parse().ok(),
            _ => {}
        }
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    (cron, time.unwrap_or(now))
}

/// `a=1&b=x+y` into pairs, `+` as a space and `%XX` decoded.
fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key), decode(value))
    })
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_requests_name_the_cron_and_time() {
        let (cron, time) = test_params(Some("cron=*%2F5+*+*+*+*&time=1000"));
        assert_eq!((cron.as_str(), time), ("*/5 * * * *", 1000));
        let (cron, time) = test_params(None);
        assert!(cron.is_empty() && time > 1_700_000_000_000);
    }
}
