//! Cron ticks the control plane gives this node (`scheduled` sync events): each runs the
//! script's scheduled handler once, metered like a request, and its outcome is reported with
//! `POST /v1/scheduled/{id}`. A tick sent again (after a reconnect) is not run again while it
//! runs or once it ran to an outcome that is final (`ok`, or a failure with `noRetry()`): its
//! outcome is reported again instead. After a failure that may be retried, the same id sent again
//! is the control plane's retry and runs again (protocol/PROTOCOL.md, "Scheduled ticks").

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_protocol::usage::Outcome;
use skiff_protocol::{ScheduledReport, ScheduledTick};

use super::client::ControlPlane;
use crate::registry::ScriptRegistry;
use crate::usage::Usage;

/// Tick ids remembered, to run each once.
const REMEMBERED: usize = 4096;
/// Attempts to report a tick's outcome, and the pause between them.
const REPORT_ATTEMPTS: u32 = 5;
const REPORT_RETRY: Duration = Duration::from_secs(1);

/// Runs the ticks of one node.
pub(crate) struct TickRunner {
    registry: Arc<ScriptRegistry>,
    usage: Arc<Usage>,
    /// How long a tick's handler may run, its `waitUntil` work included.
    wall_clock: Duration,
    seen: Mutex<Seen>,
}

/// The ticks this node has run, oldest first, with how each went.
#[derive(Default)]
struct Seen {
    order: VecDeque<String>,
    ticks: HashMap<String, Run>,
}

#[derive(Clone)]
enum Run {
    Running,
    Finished(ScheduledReport),
}

/// What to do with a tick that arrives.
enum Next {
    Run,
    Skip,
    ReportAgain(ScheduledReport),
}

impl Seen {
    fn next(&mut self, id: &str) -> Next {
        match self.ticks.get(id) {
            Some(Run::Running) => return Next::Skip,
            Some(Run::Finished(report)) if is_final(report) => {
                return Next::ReportAgain(report.clone());
            }
            Some(Run::Finished(_)) => {}
            None => {
                self.order.push_back(id.to_string());
                if self.order.len() > REMEMBERED
                    && let Some(old) = self.order.pop_front()
                {
                    self.ticks.remove(&old);
                }
            }
        }
        self.ticks.insert(id.to_string(), Run::Running);
        Next::Run
    }

    fn finished(&mut self, id: &str, report: &ScheduledReport) {
        if let Some(run) = self.ticks.get_mut(id) {
            *run = Run::Finished(report.clone());
        }
    }
}

/// Whether the control plane will not send this tick again to be retried.
fn is_final(report: &ScheduledReport) -> bool {
    report.outcome == Outcome::Ok || report.no_retry
}

impl TickRunner {
    pub(crate) fn new(
        registry: Arc<ScriptRegistry>,
        usage: Arc<Usage>,
        wall_clock: Duration,
    ) -> Self {
        Self {
            registry,
            usage,
            wall_clock,
            seen: Mutex::default(),
        }
    }

    /// Runs `tick` in the background and reports it.
    pub(crate) fn start(self: &Arc<Self>, tick: ScheduledTick, control: ControlPlane) {
        let next = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next(&tick.id);
        let runner = self.clone();
        tokio::spawn(async move {
            let report = match next {
                Next::Run => runner.run(&tick).await,
                Next::ReportAgain(report) => report,
                Next::Skip => {
                    tracing::debug!(id = %tick.id, "scheduled tick already running here");
                    return;
                }
            };
            report_with_retries(&control, &tick.id, &report).await;
        });
    }

    async fn run(&self, tick: &ScheduledTick) -> ScheduledReport {
        let report = crate::scheduled::run(
            &self.registry,
            &self.usage,
            &tick.script,
            &tick.cron,
            tick.scheduled_time_ms,
            self.wall_clock,
        )
        .await;
        tracing::info!(
            script = %tick.script,
            cron = %tick.cron,
            outcome = report.outcome.as_str(),
            "scheduled tick ran"
        );
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished(&tick.id, &report);
        report
    }
}

async fn report_with_retries(control: &ControlPlane, id: &str, report: &ScheduledReport) {
    for attempt in 1..=REPORT_ATTEMPTS {
        match control.report_scheduled(id, report).await {
            Ok(()) => return,
            Err(err) if attempt == REPORT_ATTEMPTS => {
                tracing::warn!(id, %err, "cannot report a scheduled tick");
            }
            Err(_) => tokio::time::sleep(REPORT_RETRY).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: Outcome, no_retry: bool) -> ScheduledReport {
        ScheduledReport { outcome, no_retry }
    }

    #[test]
    fn a_tick_runs_once_while_running_and_after_a_final_outcome() {
        let mut seen = Seen::default();
        assert!(matches!(seen.next("a"), Next::Run));
        assert!(matches!(seen.next("a"), Next::Skip));
        seen.finished("a", &report(Outcome::Ok, false));
        assert!(matches!(seen.next("a"), Next::ReportAgain(r) if r.outcome == Outcome::Ok));

        assert!(matches!(seen.next("b"), Next::Run));
        seen.finished("b", &report(Outcome::Exception, true));
        assert!(matches!(seen.next("b"), Next::ReportAgain(r) if r.no_retry));
    }

    #[test]
    fn a_failed_tick_sent_again_is_a_retry() {
        let mut seen = Seen::default();
        assert!(matches!(seen.next("a"), Next::Run));
        seen.finished("a", &report(Outcome::ExceededCpu, false));
        assert!(matches!(seen.next("a"), Next::Run));
        assert!(matches!(seen.next("a"), Next::Skip));
        assert_eq!(seen.order.len(), 1);
    }

    #[test]
    fn only_the_newest_ids_are_remembered() {
        let mut seen = Seen::default();
        for i in 0..REMEMBERED + 10 {
            assert!(matches!(seen.next(&i.to_string()), Next::Run));
        }
        assert_eq!(seen.ticks.len(), REMEMBERED);
        assert!(matches!(seen.next("0"), Next::Run));
        assert!(matches!(
            seen.next(&(REMEMBERED + 9).to_string()),
            Next::Skip
        ));
    }
}
