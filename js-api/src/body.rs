//! Request and response bodies as bounded channels of byte chunks.

use std::borrow::Cow;
use std::rc::Rc;

use bytes::Bytes;
use deno_core::futures::FutureExt;
use deno_core::{AsyncRefCell, AsyncResult, BufView, CancelFuture, CancelHandle, RcRef, Resource};
use deno_error::JsErrorBox;
use tokio::sync::mpsc;

/// One chunk of a body, or the I/O error that ended it.
pub type BodyChunk = Result<Bytes, std::io::Error>;
/// The producing end of a body. Dropping it ends the body.
pub type BodySender = mpsc::Sender<BodyChunk>;
/// The consuming end of a body.
pub type BodyReceiver = mpsc::Receiver<BodyChunk>;

/// A body channel holding at most `chunks` chunks in flight.
pub fn body_channel(chunks: usize) -> (BodySender, BodyReceiver) {
    mpsc::channel(chunks)
}

/// A request body as a deno_core resource, read by `readableStreamForRid` in JavaScript.
pub(crate) struct RequestBodyResource {
    rx: AsyncRefCell<(BodyReceiver, Option<Bytes>)>,
    cancel: CancelHandle,
}

impl RequestBodyResource {
    pub(crate) fn new(rx: BodyReceiver) -> Self {
        Self {
            rx: AsyncRefCell::new((rx, None)),
            cancel: CancelHandle::default(),
        }
    }
}

impl Resource for RequestBodyResource {
    fn name(&self) -> Cow<'_, str> {
        "skiffRequestBody".into()
    }

    fn read(self: Rc<Self>, limit: usize) -> AsyncResult<BufView> {
        async move {
            let cancel = RcRef::map(&self, |r| &r.cancel);
            let mut guard = RcRef::map(&self, |r| &r.rx).borrow_mut().await;
            let (rx, leftover) = &mut *guard;
            let mut chunk = match leftover.take() {
                Some(chunk) => chunk,
                None => {
                    let next = rx.recv().or_cancel(cancel).await;
                    match next {
                        Err(_) => return Err(JsErrorBox::generic("request body read cancelled")),
                        Ok(None) => return Ok(BufView::from(Bytes::new())),
                        Ok(Some(Err(err))) => {
                            return Err(JsErrorBox::generic(format!("request body failed: {err}")));
                        }
                        Ok(Some(Ok(chunk))) => chunk,
                    }
                }
            };
            if chunk.len() > limit {
                *leftover = Some(chunk.split_off(limit));
            }
            Ok(BufView::from(chunk))
        }
        .boxed_local()
    }

    fn close(self: Rc<Self>) {
        self.cancel.cancel();
    }
}
