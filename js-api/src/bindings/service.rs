//! Service bindings: `env.NAME.fetch()` runs another script of the same node in process, with
//! no network and no TCP. The op behind `js/09_service.js`'s `Fetcher` hands the request to
//! the node's [`ServiceDispatch`] and the callee's response back to the caller.
//!
//! Both bodies stream through bounded channels, as a request from a client does: the caller's
//! request body is pumped out of its `ReadableStream` on the caller's thread, the callee's
//! response body is read by the caller as a stream. The callee runs in its own isolate, under
//! its own limits; its failures reach the caller as the response a client would get (a 500
//! for an exception, a 503 for a broken limit), never as a crash of the caller.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use deno_core::{ByteString, OpState, ResourceId, ToJsBuffer, op2};
use deno_error::JsErrorBox;
use serde::{Deserialize, Serialize};

use super::EnvBinding;
use crate::body::{RequestBodyResource, body_channel};
use crate::queue::{FetchRequest, ResponseBody, ResponseHead};

/// How many chunks of a request body may wait between the caller and the callee.
const REQUEST_CHANNEL_CHUNKS: usize = 8;

pub type ServiceFuture = Pin<Box<dyn Future<Output = ResponseHead> + Send + 'static>>;

/// How a node runs a request in one of its scripts for a service binding.
pub trait ServiceDispatch: Send + Sync + 'static {
    /// The response of script `service` to `request`: its own, or the one its clients would
    /// get when it fails (a limit, a script that does not load or does not exist).
    fn fetch(&self, service: &str, request: FetchRequest) -> ServiceFuture;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRequestArgs {
    method: String,
    url: String,
    headers: Vec<(ByteString, ByteString)>,
    /// A `ReadableStream` resource (`resourceForReadableStream`) of the request body.
    body_rid: Option<ResourceId>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceResponseForJs {
    status: u16,
    headers: Vec<(ByteString, ByteString)>,
    /// A complete body.
    body: Option<ToJsBuffer>,
    /// A streamed body, as a resource `readableStreamForRid` reads.
    body_rid: Option<ResourceId>,
    /// The socket of a 101 (the callee's `webSocket`), as an end in this isolate.
    socket_rid: Option<ResourceId>,
}

/// `Fetcher.fetch`: runs the request in the bound script and answers its response.
#[op2]
#[serde]
pub async fn op_skiff_service_fetch(
    state: Rc<RefCell<OpState>>,
    #[string] binding: String,
    #[serde] args: ServiceRequestArgs,
) -> Result<ServiceResponseForJs, JsErrorBox> {
    let (dispatch, service, body) = {
        let mut state = state.borrow_mut();
        let Some((node, tenant)) = crate::ops::configured(&state) else {
            return Err(JsErrorBox::generic("the isolate has no tenant"));
        };
        let service = tenant.bindings.iter().find_map(|bound| match bound {
            EnvBinding::Service { name, service } if *name == binding => Some(service.clone()),
            _ => None,
        });
        let Some(service) = service else {
            return Err(JsErrorBox::type_error(format!(
                "{binding} is not a service binding of this worker"
            )));
        };
        let Some(dispatch) = node.bindings.services.clone() else {
            return Err(JsErrorBox::generic(
                "service bindings are not available on this node",
            ));
        };
        let body = match args.body_rid {
            Some(rid) => {
                let resource = state
                    .resource_table
                    .take_any(rid)
                    .map_err(|err| JsErrorBox::generic(err.to_string()))?;
                let (tx, rx) = body_channel(REQUEST_CHANNEL_CHUNKS);
                crate::ops::pump(resource, tx, crate::ops::runtime_gone(&state), || {});
                Some(rx)
            }
            None => None,
        };
        (dispatch, service, body)
    };
    let request = FetchRequest {
        method: args.method,
        url: args.url,
        headers: args
            .headers
            .into_iter()
            .map(|(name, value)| (String::from_utf8_lossy(&name).into_owned(), value.to_vec()))
            .collect(),
        body,
        meter: None,
    };
    let head = dispatch.fetch(&service, request).await;
    let (body, body_rid, socket_rid) = match head.body {
        ResponseBody::Full(bytes) => (Some(bytes.to_vec().into()), None, None),
        ResponseBody::Stream(receiver) => {
            let rid = state
                .borrow_mut()
                .resource_table
                .add(RequestBodyResource::new(receiver));
            (None, Some(rid), None)
        }
        ResponseBody::WebSocket(pipe) => {
            let mut state = state.borrow_mut();
            let memory = crate::external_memory(&state);
            let end = crate::websocket::SocketEnd::from_pipe(pipe, memory);
            (None, None, Some(state.resource_table.add(end)))
        }
    };
    Ok(ServiceResponseForJs {
        status: head.status,
        headers: head.headers,
        body,
        body_rid,
        socket_rid,
    })
}
