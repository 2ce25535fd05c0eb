//! Node acks, written in batches: when a change reaches every node, their acks arrive together,
//! and one transaction for all that are waiting costs one commit instead of one each. An ack
//! is answered once its batch is committed, so a 204 still means "recorded". On PostgreSQL the
//! batch's transaction also tells the other replicas (one `NOTIFY nodes` for all of it).

use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::store::{self, Store};

/// Acks written in one transaction at most.
const BATCH: usize = 512;

/// `Err(None)`: the node has no row; `Err(Some(why))`: the batch failed.
type Reply = oneshot::Sender<Result<(), Option<String>>>;

/// The writer's queue; cloning shares it.
#[derive(Clone)]
pub struct Acks {
    queue: mpsc::UnboundedSender<(String, u64, Reply)>,
}

impl Acks {
    /// Starts the writer; it ends when every `Acks` is dropped.
    pub fn start(store: Store) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(store, pending));
        Self { queue }
    }

    /// Records that `node` applied `revision`; returns once that is committed.
    pub async fn record(&self, node: &str, revision: u64) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send((node.to_string(), revision, reply))
            .map_err(|_| StoreError::Task("the ack writer has stopped".into()))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(None)) => Err(StoreError::NotFound(format!("no node {node:?}"))),
            Ok(Err(Some(message))) => Err(StoreError::Unavailable(message)),
            Err(_) => Err(StoreError::Task("the ack writer has stopped".into())),
        }
    }
}

async fn write_batches(store: Store, mut pending: mpsc::UnboundedReceiver<(String, u64, Reply)>) {
    let mut batch = Vec::with_capacity(BATCH);
    while pending.recv_many(&mut batch, BATCH).await > 0 {
        let result = write(&store, &batch).await;
        for (node, _, reply) in batch.drain(..) {
            let answer = match &result {
                Ok(unknown) if unknown.contains(&node) => Err(None),
                Ok(_) => Ok(()),
                Err(err) => Err(Some(err.to_string())),
            };
            let _ = reply.send(answer);
        }
    }
}

/// Writes a batch; the nodes that had no row.
async fn write(store: &Store, batch: &[(String, u64, Reply)]) -> Result<Vec<String>, StoreError> {
    let mut tx = store.bookkeeping().await?;
    let mut unknown = Vec::new();
    // In id order: concurrent writers of the same rows lock them in the same order.
    let mut ordered: Vec<_> = batch
        .iter()
        .map(|(node, revision, _)| (node, revision))
        .collect();
    ordered.sort_unstable();
    for (node, revision) in ordered {
        match store::nodes::node_ack(&mut tx, node, *revision).await {
            Ok(()) => {}
            Err(StoreError::NotFound(_)) => unknown.push(node.clone()),
            Err(err) => return Err(err),
        }
    }
    if let Store::Postgres(_) = store {
        crate::replica::notify_in(&mut tx, "nodes").await?;
    }
    tx.commit().await?;
    Ok(unknown)
}
