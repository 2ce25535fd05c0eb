//! Cron triggers: the scheduler that turns each deployed script's `[triggers] crons` into
//! ticks, gives each tick to one connected node, and hands it on when that node goes away.
//!
//! Every replica runs the scheduler; the store decides between them. A tick is a row keyed by
//! (script, cron, scheduled time) with an id derived from that key, inserted with
//! `ON CONFLICT DO NOTHING`, so however many replicas see it due it exists once; every later
//! change of a tick is a compare-and-set on its state and attempt count, so one replica wins
//! each step. The rules:
//!
//! - **Which crons**: those of the largest-share version of each script's current deployment,
//!   five-field expressions in UTC (validated at upload with [`parse`]).
//! - **Which ticks**: only the latest due tick of each cron, and only if it is later than the
//!   deployment and later than this scheduler's start minus [`GRACE`]: a control plane that was
//!   down fires no backlog, and a tick missed meanwhile runs at most once.
//! - **Newer wins**: creating a tick makes the unfinished older ticks of its cron `missed`.
//! - **Assignment**: a pending tick goes to a connected node (its stream open on a live
//!   replica), preferably one that acknowledged the deployment's revision, chosen by a hash of
//!   the tick id and attempt (a retry avoids the node that had it when another is connected).
//!   With no node connected it stays pending until one connects.
//! - **Delivery**: the replica holding the node's sync stream sends it as a `scheduled` event;
//!   a note (`scheduled`) wakes the other replicas, and each looks every second anyway.
//! - **Hand-over**: an assigned tick whose node is no longer connected, or has not reported
//!   within [`REPORT_TIMEOUT`] of scheduler time, is assigned again. A failed report without
//!   `noRetry` is retried the same way. A tick is assigned at most [`MAX_ATTEMPTS`] times; then
//!   it is `failed`.
//!
//! The scheduler's clock is this replica's start plus the real time since, times
//! [`ControlConfig::clock_speed`](crate::ControlConfig::clock_speed) (1 outside tests). It
//! sleeps until the next due tick, at most a second (to notice nodes and other replicas).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use tokio::task::JoinHandle;

use crate::error::{ApiError, StoreError};
use crate::replica::{self, REPLICA_GONE};
use crate::state::AppState;
use crate::store::ticks::{self, ScriptCrons, Tick};
use crate::store::{self, Store, now_ms};

/// How far before the scheduler's start a due tick is still run.
pub const GRACE: Duration = Duration::from_secs(5 * 60);

/// How long (scheduler time) an assigned node has to report before the tick goes elsewhere.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Assignments of one tick at most (the first run and two retries).
pub const MAX_ATTEMPTS: u64 = 3;

/// The longest the scheduler sleeps.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// How often (real time) old ticks and usage are deleted.
const HOUSEKEEPING: Duration = Duration::from_secs(60);

/// Finished ticks are kept this long (real time).
const KEEP_TICKS: Duration = Duration::from_secs(24 * 3600);

/// Usage rows and batch ids are kept this long.
const KEEP_USAGE: Duration = Duration::from_secs(31 * 24 * 3600);

/// Parses a five-field cron expression (minute, hour, day of month, month, day of week; UTC).
/// The error says what is wrong with it.
pub fn parse(expression: &str) -> Result<Cron, String> {
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    let cron = parser.parse(expression).map_err(|err| err.to_string())?;
    // An expression that never matches (the 30th of February) is refused as well.
    cron.find_next_occurrence(&Utc::now(), false)
        .map_err(|_| "it never fires".to_string())?;
    Ok(cron)
}

/// Refuses (400) an upload whose crons include one that does not parse.
pub fn validate(crons: &[String]) -> Result<(), ApiError> {
    for expression in crons {
        parse(expression).map_err(|why| {
            ApiError::bad_request(format!(
                "bad cron trigger {expression:?}: {why} (use five fields: minute hour \
                 day-of-month month day-of-week, in UTC)"
            ))
        })?;
    }
    Ok(())
}

/// The scheduler's clock: real time since `start`, times `speed`, from the wall time then.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    start_ms: u64,
    speed: f64,
}

impl Clock {
    pub fn new(speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Self {
            start: Instant::now(),
            start_ms: now_ms(),
            speed,
        }
    }

    /// Milliseconds since the epoch, on this clock.
    pub fn now_ms(&self) -> u64 {
        self.start_ms + (self.start.elapsed().as_secs_f64() * 1000.0 * self.speed) as u64
    }

    /// When the clock started.
    pub fn start_ms(&self) -> u64 {
        self.start_ms
    }

    /// The real time until the clock shows `at_ms`.
    pub fn real_until(&self, at_ms: u64) -> Duration {
        let ahead = at_ms.saturating_sub(self.now_ms()) as f64 / self.speed;
        Duration::from_secs_f64(ahead / 1000.0)
    }

    /// Scheduler time that `real` of real time is.
    pub fn scaled(&self, real: Duration) -> Duration {
        real.mul_f64(self.speed)
    }
}

/// A deployed script's parsed crons.
struct Trigger {
    script: ScriptCrons,
    crons: Vec<(String, Cron)>,
}

/// What the scheduler keeps between rounds.
struct Scheduler {
    state: Arc<AppState>,
    clock: Clock,
    /// The triggers and the revision they were read at.
    triggers: Option<(u64, Vec<Trigger>)>,
    /// The latest tick time each (script, cron) was seen due at, created here or not.
    latest: HashMap<(String, String), u64>,
    housekept: Instant,
}

/// Starts the scheduler; it ends when the control plane shuts down.
pub fn spawn(state: Arc<AppState>) -> JoinHandle<()> {
    let clock = Clock::new(state.config.clock_speed);
    tokio::spawn(run(Scheduler {
        state,
        clock,
        triggers: None,
        latest: HashMap::new(),
        housekept: Instant::now(),
    }))
}

async fn run(mut scheduler: Scheduler) {
    let state = scheduler.state.clone();
    let mut shutdown = state.shutdown.subscribe();
    let mut node_events = state.node_events.subscribe();
    loop {
        node_events.borrow_and_update();
        let next = match scheduler.round().await {
            Ok(next) => next,
            Err(err) => {
                tracing::warn!(error = %err, "the cron scheduler failed; retrying");
                None
            }
        };
        let sleep = next
            .map(|at| scheduler.clock.real_until(at))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = crate::sync::stopped(&mut shutdown) => break,
            _ = tokio::time::sleep(sleep) => {}
            changed = node_events.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = state.scheduler_wake.notified() => {}
        }
    }
}

impl Scheduler {
    /// One round: create the due ticks, assign and hand over, deliver. The scheduler time of
    /// the next due tick, if any.
    async fn round(&mut self) -> Result<Option<u64>, StoreError> {
        self.refresh_triggers().await?;
        let now = self.clock.now_ms();
        let next = self.create_due(now).await?;
        self.assign_and_deliver().await?;
        if self.housekept.elapsed() >= HOUSEKEEPING {
            self.housekept = Instant::now();
            self.housekeeping().await?;
        }
        Ok(next)
    }

    async fn refresh_triggers(&mut self) -> Result<(), StoreError> {
        let revision = *self.state.revision.borrow();
        if matches!(&self.triggers, Some((read_at, _)) if *read_at == revision) {
            return Ok(());
        }
        let mut tx = self.state.store.read().await?;
        let scripts = ticks::script_crons(&mut tx, None).await?;
        tx.commit().await?;
        let triggers = scripts
            .into_iter()
            .map(|script| {
                let crons = script
                    .crons
                    .iter()
                    .filter_map(|expression| match parse(expression) {
                        Ok(cron) => Some((expression.clone(), cron)),
                        Err(why) => {
                            tracing::warn!(script = %script.script, cron = %expression, %why,
                                "a deployed cron trigger does not parse; it never fires");
                            None
                        }
                    })
                    .collect();
                Trigger { script, crons }
            })
            .collect();
        self.triggers = Some((revision, triggers));
        Ok(())
    }

    /// Creates the latest due tick of each cron (when it is new); the next time one is due.
    async fn create_due(&mut self, now: u64) -> Result<Option<u64>, StoreError> {
        let Some((_, triggers)) = &self.triggers else {
            return Ok(None);
        };
        // Whole seconds: the occurrences found keep the fraction of the time they start from.
        let Some(now_time) = DateTime::<Utc>::from_timestamp((now / 1000) as i64, 0) else {
            return Ok(None);
        };
        let floor = self
            .clock
            .start_ms()
            .saturating_sub(GRACE.as_millis() as u64);
        let mut due = Vec::new();
        let mut next: Option<u64> = None;
        for trigger in triggers {
            for (expression, cron) in &trigger.crons {
                if let Ok(at) = cron.find_next_occurrence(&now_time, false) {
                    let at = at.timestamp_millis().max(0) as u64;
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
                let Ok(latest) = cron.find_previous_occurrence(&now_time, true) else {
                    continue;
                };
                let latest = latest.timestamp_millis().max(0) as u64;
                let key = (trigger.script.script.clone(), expression.clone());
                if latest > floor
                    && latest > trigger.script.deployment_ms
                    && self.latest.get(&key) != Some(&latest)
                {
                    due.push((key, latest));
                }
            }
        }
        if due.is_empty() {
            return Ok(next);
        }
        let mut tx = self.state.store.bookkeeping().await?;
        let mut created = Vec::new();
        for ((script, cron), at) in &due {
            if let Some(id) = ticks::create_tick(&mut tx, script, cron, *at).await? {
                created.push((id, script.clone(), cron.clone(), *at));
            }
        }
        tx.commit().await?;
        for ((script, cron), at) in due {
            self.latest.insert((script, cron), at);
        }
        for (id, script, cron, at) in created {
            tracing::info!(%script, %cron, tick = %id, scheduled_time_ms = at, "cron tick due");
        }
        Ok(next)
    }

    /// The connected nodes with their acknowledged revisions: the store's view, and this
    /// replica's own streams.
    async fn connected(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut tx = self.state.store.read().await?;
        let mut nodes: BTreeMap<String, u64> =
            ticks::connected_nodes(&mut tx, REPLICA_GONE.as_millis() as u64)
                .await?
                .into_iter()
                .collect();
        tx.commit().await?;
        for node in self.state.connected_nodes() {
            nodes.entry(node).or_insert(0);
        }
        Ok(nodes)
    }

    /// Hands over the ticks whose node went away or is late, assigns the pending ones, and
    /// sends this replica's nodes the ticks assigned to them.
    async fn assign_and_deliver(&mut self) -> Result<(), StoreError> {
        let open = {
            let mut tx = self.state.store.bookkeeping().await?;
            ticks::miss_overtaken(&mut tx).await?;
            let open = ticks::open_ticks(&mut tx).await?;
            tx.commit().await?;
            open
        };
        if open.is_empty() {
            return Ok(());
        }
        let nodes = self.connected().await?;
        let revisions: HashMap<&str, u64> = self
            .triggers
            .iter()
            .flat_map(|(_, triggers)| triggers)
            .map(|t| (t.script.script.as_str(), t.script.revision))
            .collect();
        let mut changed = false;
        let mut assigned = Vec::new();
        for mut tick in open {
            if tick.state == "assigned" && self.overdue(&tick, &nodes) {
                let mut tx = self.state.store.bookkeeping().await?;
                let taken = ticks::unassign(&mut tx, &tick, MAX_ATTEMPTS).await?;
                tx.commit().await?;
                if !taken {
                    continue;
                }
                changed = true;
                if tick.attempts >= MAX_ATTEMPTS {
                    tracing::warn!(tick = %tick.id, script = %tick.script, cron = %tick.cron,
                        "cron tick failed: no node reported it in {MAX_ATTEMPTS} attempts");
                    continue;
                }
                tracing::info!(tick = %tick.id, node = ?tick.node, "cron tick handed over");
                tick.state = "pending".into();
            }
            if tick.state == "pending" {
                let wanted = revisions.get(tick.script.as_str()).copied().unwrap_or(0);
                let Some(node) = choose_node(&tick, &nodes, wanted) else {
                    continue;
                };
                let mut tx = self.state.store.bookkeeping().await?;
                let won = ticks::assign(&mut tx, &tick, &node).await?;
                tx.commit().await?;
                if !won {
                    continue;
                }
                changed = true;
                tracing::info!(tick = %tick.id, script = %tick.script, %node,
                    attempt = tick.attempts + 1, "cron tick assigned");
                tick.state = "assigned".into();
                tick.node = Some(node);
                tick.attempts += 1;
            }
            if tick.state == "assigned" {
                assigned.push(tick);
            }
        }
        for tick in &assigned {
            let Some(node) = &tick.node else { continue };
            for session in self.state.sessions_of(node) {
                session.deliver(tick.wire(), tick.attempts);
            }
        }
        if changed && matches!(self.state.store, Store::Postgres(_)) {
            replica::announce(&self.state, "scheduled".into());
        }
        Ok(())
    }

    /// Whether an assigned tick should go to another node: its node is not connected, or has
    /// not reported within [`REPORT_TIMEOUT`] of scheduler time.
    fn overdue(&self, tick: &Tick, nodes: &BTreeMap<String, u64>) -> bool {
        let gone = tick
            .node
            .as_ref()
            .is_none_or(|node| !nodes.contains_key(node));
        let waited = Duration::from_millis(now_ms().saturating_sub(tick.assigned_ms.unwrap_or(0)));
        gone || self.clock.scaled(waited) >= REPORT_TIMEOUT
    }

    async fn housekeeping(&self) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.state.store.bookkeeping().await?;
        ticks::forget_finished(&mut tx, now.saturating_sub(KEEP_TICKS.as_millis() as u64)).await?;
        store::usage::forget_before(&mut tx, now.saturating_sub(KEEP_USAGE.as_millis() as u64))
            .await?;
        tx.commit().await
    }
}

/// The node a pending tick goes to: among the connected nodes, those that acknowledged
/// `wanted` (the deployment's revision) if any did; not the node that had it last if another
/// is left; then by a hash of the tick id and attempt, which spreads ticks over the nodes.
fn choose_node(tick: &Tick, nodes: &BTreeMap<String, u64>, wanted: u64) -> Option<String> {
    let current: BTreeSet<&str> = nodes
        .iter()
        .filter(|(_, revision)| **revision >= wanted)
        .map(|(node, _)| node.as_str())
        .collect();
    let mut candidates: Vec<&str> = if current.is_empty() {
        nodes.keys().map(String::as_str).collect()
    } else {
        current.into_iter().collect()
    };
    if candidates.len() > 1
        && let Some(last) = &tick.node
    {
        candidates.retain(|node| node != last);
    }
    if candidates.is_empty() {
        return None;
    }
    let hash = u64::from_str_radix(tick.id.get(..16).unwrap_or("0"), 16).unwrap_or(0);
    let index = hash.wrapping_add(tick.attempts) % candidates.len() as u64;
    candidates.get(index as usize).map(|node| node.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_crons_parse_and_others_are_refused() {
        for good in ["* * * * *", "*/5 * * * *", "0 0 * * MON", "30 2 1,15 * *"] {
            assert!(parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "* * * *",
            "0 * * * * *",
            "61 * * * *",
            "0 0 30 2 *",
            "banana",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_clock_runs_at_its_speed() {
        let clock = Clock::new(60.0);
        let wait = clock.real_until(clock.now_ms() + 60_000);
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(900));
        assert_eq!(
            clock.scaled(Duration::from_secs(2)),
            Duration::from_secs(120)
        );
        assert_eq!(Clock::new(0.0).speed, 1.0);
    }

    fn tick(node: Option<&str>, attempts: u64) -> Tick {
        Tick {
            id: ticks::tick_id("s", "* * * * *", 60_000),
            script: "s".into(),
            cron: "* * * * *".into(),
            scheduled_time_ms: 60_000,
            state: "pending".into(),
            node: node.map(str::to_string),
            attempts,
            assigned_ms: None,
            outcome: None,
        }
    }

    #[test]
    fn nodes_are_chosen_up_to_date_first_and_a_retry_moves_on() {
        let nodes: BTreeMap<String, u64> = [("a".to_string(), 5), ("b".to_string(), 9)].into();
        // Only b acknowledged the deployment's revision.
        assert_eq!(choose_node(&tick(None, 0), &nodes, 7).as_deref(), Some("b"));
        // Nobody did: any node.
        assert!(choose_node(&tick(None, 0), &nodes, 10).is_some());
        // A retry avoids the node that had it, when there is another.
        assert_eq!(
            choose_node(&tick(Some("a"), 1), &nodes, 0).as_deref(),
            Some("b")
        );
        let one: BTreeMap<String, u64> = [("a".to_string(), 5)].into();
        assert_eq!(
            choose_node(&tick(Some("a"), 1), &one, 0).as_deref(),
            Some("a")
        );
        assert_eq!(choose_node(&tick(None, 0), &BTreeMap::new(), 0), None);
    }
}
