//! The invocations an isolate has in flight, from the moment its script takes an event off
//! the queue until the event is completely finished, and the CPU each one is charged.
//!
//! An invocation stays open while any of its parts is: its handler (a fetch until its
//! response is sent, streamed bodies included; a scheduled event until its handler's promise
//! settles) and each `waitUntil` task started through its `ExecutionContext`. When the last
//! part closes, a scheduled invocation's result is sent and the invocation's [`Meter`] (if
//! any) gets its CPU and is dropped.
//!
//! CPU: the runtime measures every slice of the isolate (see the runtime's `SliceContext`) and
//! reports it to [`CpuShares::end_slice`], which splits it evenly among the invocations in
//! flight during the slice. One accumulator, the CPU a single invocation would have been
//! charged had it been in flight since the isolate started, advances by `cpu / n` per slice;
//! an invocation is charged the accumulator's advance between its start and its end. An
//! invocation that ends during a slice still counts among that slice's `n` and reads the
//! accumulator after the slice is accounted, so one that starts and ends within a single
//! slice (most requests) is charged that slice. CPU spent with no invocation in flight
//! (timers after every response, the top level) is charged to nobody. Each slice costs a few
//! cell updates; nothing is allocated per slice.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use deno_core::OpState;
use tokio::sync::oneshot;

use crate::meter::{Meter, MeterStop};
use crate::queue::{ResponseHead, ScheduledResult};

/// Where an invocation's outcome goes.
pub(crate) enum Reply {
    /// A fetch not answered yet.
    Fetch(oneshot::Sender<ResponseHead>),
    /// A scheduled event: answered when the invocation ends.
    Scheduled(oneshot::Sender<ScheduledResult>),
    /// A fetch already answered.
    Answered,
}

struct Invocation {
    reply: Reply,
    /// Parts still running: the handler and each `waitUntil` task.
    open: u32,
    meter: Option<Meter>,
    /// The accumulator of [`Shares`] when the invocation began.
    cpu_from: u64,
    /// A scheduled handler that threw or rejected.
    failed: bool,
    no_retry: bool,
    /// What goes with the invocation when it ends: resources only it may use (an
    /// `HTMLRewriter` transformation), as Workers ties I/O objects to their request.
    at_end: Vec<Box<dyn FnOnce()>>,
}

/// The id the dispatcher uses for "no invocation" (work outside any request).
pub(crate) const NO_INVOCATION: u32 = 0;
/// Ids stay small integers, which the ops carry as such.
const MAX_ID: u32 = (1 << 30) - 1;

/// An isolate's invocations in flight and the CPU they are charged; one per runtime, in its
/// `OpState` and, through [`CpuShares`], in the runtime's slice accounting.
#[derive(Default)]
pub(crate) struct Invocations {
    table: RefCell<HashMap<u32, Invocation>>,
    last_id: Cell<u32>,
    shares: Shares,
}

#[derive(Default)]
struct Shares {
    /// The CPU, in nanoseconds, charged to an invocation in flight since the isolate started.
    per_invocation: Cell<u64>,
    /// Invocations in flight now.
    live: Cell<u32>,
    /// Invocations that ended during the slice running now: they share its CPU.
    ended_in_slice: Cell<u32>,
    in_slice: Cell<bool>,
    /// The meters of those, with their accumulator at the start, charged when the slice ends.
    /// Emptied at every slice end; its capacity is kept.
    finishing: RefCell<Vec<(Meter, u64)>>,
}

impl Invocations {
    /// Starts an invocation with its handler open; returns its id.
    pub(crate) fn begin(&self, reply: Reply, meter: Option<Meter>) -> u32 {
        let mut table = self.table.borrow_mut();
        let mut id = self.last_id.get();
        loop {
            id = if id >= MAX_ID { 1 } else { id + 1 };
            if !table.contains_key(&id) {
                break;
            }
        }
        self.last_id.set(id);
        let shares = &self.shares;
        shares.live.set(shares.live.get() + 1);
        table.insert(
            id,
            Invocation {
                reply,
                open: 1,
                meter,
                cpu_from: shares.per_invocation.get(),
                failed: false,
                no_retry: false,
                at_end: Vec::new(),
            },
        );
        id
    }

    /// Takes the responder of fetch `id`, if it has not been answered.
    pub(crate) fn take_responder(&self, id: u32) -> Option<oneshot::Sender<ResponseHead>> {
        let mut table = self.table.borrow_mut();
        let invocation = table.get_mut(&id)?;
        match std::mem::replace(&mut invocation.reply, Reply::Answered) {
            Reply::Fetch(responder) => Some(responder),
            other => {
                invocation.reply = other;
                None
            }
        }
    }

    /// Opens one more part (a `waitUntil` task) of invocation `id`; false if it has ended.
    pub(crate) fn open(&self, id: u32) -> bool {
        match self.table.borrow_mut().get_mut(&id) {
            Some(invocation) => {
                invocation.open += 1;
                true
            }
            None => false,
        }
    }

    /// Closes one part of invocation `id`; the last one ends it.
    pub(crate) fn close(&self, id: u32) {
        let ended = {
            let mut table = self.table.borrow_mut();
            let Some(invocation) = table.get_mut(&id) else {
                return;
            };
            invocation.open = invocation.open.saturating_sub(1);
            if invocation.open > 0 {
                return;
            }
            table.remove(&id)
        };
        if let Some(invocation) = ended {
            self.end(invocation);
        }
    }

    /// Runs `f` when invocation `id` ends; false (and `f` dropped) if it is not in flight.
    pub(crate) fn at_end(&self, id: u32, f: impl FnOnce() + 'static) -> bool {
        match self.table.borrow_mut().get_mut(&id) {
            Some(invocation) => {
                invocation.at_end.push(Box::new(f));
                true
            }
            None => false,
        }
    }

    /// Applies `f` to invocation `id`'s record, if it is in flight.
    fn with(&self, id: u32, f: impl FnOnce(&mut Invocation)) {
        if let Some(invocation) = self.table.borrow_mut().get_mut(&id) {
            f(invocation);
        }
    }

    pub(crate) fn count_subrequest(&self, id: u32) {
        self.with(id, |invocation| {
            if let Some(meter) = &invocation.meter {
                meter.add_subrequest();
            }
        });
    }

    /// The handler threw or its promise rejected.
    pub(crate) fn threw(&self, id: u32) {
        self.with(id, |invocation| {
            invocation.failed = true;
            if let Some(meter) = &invocation.meter {
                meter.set_exception();
            }
        });
    }

    pub(crate) fn no_retry(&self, id: u32) {
        self.with(id, |invocation| invocation.no_retry = true);
    }

    fn end(&self, mut invocation: Invocation) {
        for f in invocation.at_end.drain(..) {
            f();
        }
        let shares = &self.shares;
        shares.live.set(shares.live.get().saturating_sub(1));
        if let Reply::Scheduled(respond) = invocation.reply {
            let _ = respond.send(ScheduledResult {
                ok: !invocation.failed,
                no_retry: invocation.no_retry,
            });
        }
        if shares.in_slice.get() {
            shares.ended_in_slice.set(shares.ended_in_slice.get() + 1);
            if let Some(meter) = invocation.meter {
                shares
                    .finishing
                    .borrow_mut()
                    .push((meter, invocation.cpu_from));
            }
        } else if let Some(meter) = invocation.meter {
            meter.add_cpu(
                shares
                    .per_invocation
                    .get()
                    .saturating_sub(invocation.cpu_from),
            );
        }
    }

    /// Ends every invocation in flight (the isolate is being disposed): each meter gets its
    /// CPU so far and, if a limit stopped the isolate, `stopped_by`. Their callers, if still
    /// waiting, see the isolate gone.
    fn end_all(&self, stopped_by: Option<MeterStop>) {
        let ended: Vec<Invocation> = self
            .table
            .borrow_mut()
            .drain()
            .map(|(_, invocation)| invocation)
            .collect();
        let per_invocation = self.shares.per_invocation.get();
        self.shares.live.set(0);
        for mut invocation in ended {
            for f in invocation.at_end.drain(..) {
                f();
            }
            if let Some(meter) = invocation.meter {
                if let Some(stop) = stopped_by {
                    meter.set_stopped_by(stop);
                }
                meter.add_cpu(per_invocation.saturating_sub(invocation.cpu_from));
            }
        }
    }

    /// Answers every fetch in flight that has no response yet with what `head` makes; how
    /// many callers were still waiting.
    pub(crate) fn answer_unanswered(&self, head: impl Fn() -> ResponseHead) -> usize {
        let mut answered = 0;
        for invocation in self.table.borrow_mut().values_mut() {
            if let Reply::Fetch(_) = invocation.reply
                && let Reply::Fetch(responder) =
                    std::mem::replace(&mut invocation.reply, Reply::Answered)
            {
                answered += usize::from(responder.send(head()).is_ok());
            }
        }
        answered
    }
}

/// The runtime's view of an isolate's invocations: the slice accounting that charges them CPU
/// (see the module docs). Get it with [`cpu_shares`].
#[derive(Clone)]
pub struct CpuShares(Rc<Invocations>);

impl CpuShares {
    /// A slice of the isolate begins: invocations that end from now on share its CPU.
    pub fn begin_slice(&self) {
        self.0.shares.in_slice.set(true);
    }

    /// The slice that began last ended, having cost `cpu`: splits it among the invocations in
    /// flight during it, then charges the meters of those that ended in it.
    pub fn end_slice(&self, cpu: Duration) {
        let shares = &self.0.shares;
        shares.in_slice.set(false);
        let sharing = shares.live.get() + shares.ended_in_slice.get();
        shares.ended_in_slice.set(0);
        if sharing > 0 {
            let nanos = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
            shares.per_invocation.set(
                shares
                    .per_invocation
                    .get()
                    .saturating_add(nanos / u64::from(sharing)),
            );
        }
        if shares.finishing.borrow().is_empty() {
            return;
        }
        let per_invocation = shares.per_invocation.get();
        let mut finishing = std::mem::take(&mut *shares.finishing.borrow_mut());
        // A meter's last drop runs the node's callback: outside the borrow.
        for (meter, cpu_from) in finishing.drain(..) {
            meter.add_cpu(per_invocation.saturating_sub(cpu_from));
        }
        *shares.finishing.borrow_mut() = finishing;
    }

    /// Invocations in flight.
    pub fn live(&self) -> u32 {
        self.0.shares.live.get()
    }

    /// Ends every invocation in flight, before the isolate is disposed: each meter gets its
    /// CPU so far and `stopped_by`; scheduled callers still waiting see the isolate gone. Call
    /// after [`crate::fail_pending`], which answers the fetches.
    pub fn end_all(&self, stopped_by: Option<MeterStop>) {
        self.0.end_all(stopped_by);
    }
}

pub(crate) fn init_state(state: &mut OpState) {
    state.put(Rc::new(Invocations::default()));
}

pub(crate) fn invocations(state: &OpState) -> &Rc<Invocations> {
    state.borrow::<Rc<Invocations>>()
}

/// The slice accounting of a runtime created with [`crate::extensions`].
pub fn cpu_shares(state: &OpState) -> CpuShares {
    CpuShares(invocations(state).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metered() -> (Meter, std::sync::mpsc::Receiver<Duration>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let meter = Meter::new(move |reading| tx.send(reading.cpu).expect("send"));
        (meter, rx)
    }

    #[test]
    fn an_invocation_within_one_slice_is_charged_that_slice() {
        let shares = CpuShares(Rc::default());
        let invocations = &shares.0;
        let (meter, done) = metered();
        shares.begin_slice();
        let id = invocations.begin(Reply::Answered, Some(meter));
        invocations.close(id);
        assert!(done.try_recv().is_err(), "charged at the slice's end");
        shares.end_slice(Duration::from_millis(3));
        assert_eq!(done.try_recv().expect("done"), Duration::from_millis(3));
    }

    #[test]
    fn concurrent_invocations_split_slices_and_idle_cpu_is_nobodys() {
        let shares = CpuShares(Rc::default());
        let invocations = &shares.0;
        let (a_meter, a_done) = metered();
        let (b_meter, b_done) = metered();
        shares.begin_slice();
        shares.end_slice(Duration::from_millis(100)); // nobody in flight
        shares.begin_slice();
        let a = invocations.begin(Reply::Answered, Some(a_meter));
        shares.end_slice(Duration::from_millis(10)); // a alone
        shares.begin_slice();
        let b = invocations.begin(Reply::Answered, Some(b_meter));
        assert!(invocations.open(b), "a waitUntil task");
        invocations.close(b);
        shares.end_slice(Duration::from_millis(8)); // a and b
        shares.begin_slice();
        invocations.close(a);
        shares.end_slice(Duration::from_millis(2)); // a ending, b in flight
        invocations.close(b); // outside a slice: charged at once
        assert_eq!(a_done.try_recv().expect("a"), Duration::from_millis(15));
        assert_eq!(b_done.try_recv().expect("b"), Duration::from_millis(5));
        assert_eq!(shares.live(), 0);
    }

    #[test]
    fn ending_all_marks_the_limit() {
        let shares = CpuShares(Rc::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let meter = Meter::new(move |reading| tx.send(reading.clone()).expect("send"));
        shares.begin_slice();
        shares.0.begin(Reply::Answered, Some(meter));
        shares.end_slice(Duration::from_millis(50));
        shares.end_all(Some(MeterStop::Cpu));
        let reading = rx.try_recv().expect("ended");
        assert_eq!(reading.stopped_by, Some(MeterStop::Cpu));
        assert_eq!(reading.cpu, Duration::from_millis(50));
    }
}
