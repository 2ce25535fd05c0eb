//! `HTMLRewriter`, Cloudflare's streaming HTML rewriter, on lol_html (the crate workerd uses
//! through its C API). `03_html_rewriter.js` is the JavaScript side.
//!
//! lol_html calls its handlers synchronously, in the middle of a `write`, with a token borrowed
//! for the length of the call. Workers' handlers are JavaScript, may return promises, and reach
//! the token through methods (`element.setAttribute`, `text.remove` ...). So each transformation
//! runs lol_html on a small stack of its own (a corosensei coroutine). A handler suspends the
//! coroutine with the number of the JavaScript handler to call; while it stays suspended it
//! serves the JavaScript token's calls on the borrowed token, one resume per call; the
//! JavaScript side resumes it with "done" once the handler has returned (and its promise, if it
//! gave one, has settled). No token leaves the coroutine's stack, so none outlives its borrow,
//! and lol_html sees an ordinary synchronous handler. Content a handler gives as a stream is a
//! lol_html streaming handler that, when lol_html reaches its place in the output, suspends the
//! coroutine once per chunk for the JavaScript side to read the stream's next one.
//!
//! Memory: lol_html may buffer at most [`MAX_PARSER_BYTES`] (workerd's figure) of a document
//! it has not finished a token of; that and the coroutine's stack are charged to the isolate's
//! external memory while the transformation lives. It lives until its body is read to the end
//! or cancelled, or until the request it was made in ends (Workers ties I/O objects to their
//! request): a tenant that leaves bodies unread gets the memory back as each request ends.
//! The output is taken by the JavaScript side after each input chunk, and before a handler or
//! streamed content waits: it holds one input chunk's worth and what handlers inserted in it.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use deno_core::{OpState, Resource, ResourceId, op2};
use deno_error::JsErrorBox;
use lol_html::errors::RewritingError;
use lol_html::html_content::{
    Comment, ContentType, Doctype, DocumentEnd, Element, EndTag, StreamingHandler,
    StreamingHandlerSink, TextChunk,
};
use lol_html::{
    AsciiCompatibleEncoding, DocumentContentHandlers, ElementContentHandlers, HandlerResult,
    HtmlRewriter, MemorySettings, Selector, Settings,
};
use serde::{Deserialize, Serialize};

use crate::memory::ExternalMemory;

/// What lol_html may buffer of one document: workerd's limit.
pub const MAX_PARSER_BYTES: usize = 3 * 1024 * 1024;

/// The coroutine's stack. lol_html and the token calls need a few pages of it; the rest is
/// reserved, never touched. (workerd runs its rewriter on 64 KiB fibers.)
const STACK_BYTES: usize = 128 * 1024;

/// What a live transformation is charged to its isolate.
const CHARGE: usize = MAX_PARSER_BYTES + STACK_BYTES;

/// The handlers one `transform()` registers, by the numbers the JavaScript side gave them.
#[derive(Debug, Deserialize)]
pub struct Plan {
    /// The `charset` of the response's content type, or `utf-8`.
    encoding: String,
    /// `on(selector, handlers)`, in order.
    elements: Vec<OnElement>,
    /// `onDocument(handlers)`, in order.
    documents: Vec<OnDocument>,
}

#[derive(Debug, Deserialize)]
struct OnElement {
    selector: String,
    element: Option<u32>,
    comments: Option<u32>,
    text: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct OnDocument {
    doctype: Option<u32>,
    comments: Option<u32>,
    text: Option<u32>,
    end: Option<u32>,
}

/// What the JavaScript side hands the coroutine.
enum Input {
    /// A chunk of the document.
    Write(Vec<u8>),
    /// The document is complete.
    End,
    /// A method of the token of the handler now running.
    Call(Call),
    /// The handler now running is done: `true` if it completed, `false` if it threw.
    Done(bool),
    /// The next chunk of the streamed content asked for ([`Step::Content`]); `None` at its end.
    Content(Option<Vec<u8>>),
    /// Reading the streamed content failed: the JavaScript side has the error.
    ContentFailed,
}

/// Where the coroutine stopped.
enum Step {
    /// The chunk it was given is rewritten: give it the next one.
    Written,
    /// Run JavaScript handler number `n` on the token it holds, then say [`Input::Done`].
    Handler(u32),
    /// The answer to an [`Input::Call`].
    Reply(Result<Reply, String>),
    /// lol_html is writing streamed content `n` (a `ReadableStream` or `Response` a handler
    /// gave): give it the stream's next chunk, or its end, as [`Input::Content`].
    Content(u32),
}

/// How a transformation ended, other than well.
enum Failure {
    /// A JavaScript handler threw: the JavaScript side has its exception.
    Handler,
    /// lol_html refused the document (a parsing ambiguity, the memory limit, bad input).
    Rewriting(String),
}

type Rewriting = Coroutine<Input, Step, Result<(), Failure>, DefaultStack>;

/// A token method, with its arguments. The JavaScript side numbers them (`CALLS` in
/// `03_html_rewriter.js`) and offers each only on the tokens that have it.
enum Call {
    Before(String, ContentType),
    After(String, ContentType),
    Replace(String, ContentType),
    Remove,
    Removed,
    Prepend(String, ContentType),
    Append(String, ContentType),
    SetInnerContent(String, ContentType),
    RemoveAndKeepContent,
    TagName,
    SetTagName(String),
    NamespaceUri,
    Attributes,
    GetAttribute(String),
    HasAttribute(String),
    SetAttribute(String, String),
    RemoveAttribute(String),
    OnEndTag(u32),
    Text,
    SetText(String),
    LastInTextNode,
    Name,
    SetName(String),
    PublicId,
    SystemId,
    /// Content streamed from the JavaScript side's stream `n`, at a place like the
    /// string-taking call of the same place's.
    Streamed(Place, u32, ContentType),
}

/// Where content goes, for [`Call::Streamed`].
#[derive(Clone, Copy)]
enum Place {
    Before,
    After,
    Replace,
    Prepend,
    Append,
    SetInnerContent,
}

impl Call {
    fn decode(method: u32, a: String, b: String, html: bool) -> Option<Self> {
        let kind = if html {
            ContentType::Html
        } else {
            ContentType::Text
        };
        Some(match method {
            0 => Self::Before(a, kind),
            1 => Self::After(a, kind),
            2 => Self::Replace(a, kind),
            3 => Self::Remove,
            4 => Self::Removed,
            5 => Self::Prepend(a, kind),
            6 => Self::Append(a, kind),
            7 => Self::SetInnerContent(a, kind),
            8 => Self::RemoveAndKeepContent,
            9 => Self::TagName,
            10 => Self::SetTagName(a),
            11 => Self::NamespaceUri,
            12 => Self::Attributes,
            13 => Self::GetAttribute(a),
            14 => Self::HasAttribute(a),
            15 => Self::SetAttribute(a, b),
            16 => Self::RemoveAttribute(a),
            17 => Self::OnEndTag(a.parse().ok()?),
            18 => Self::Text,
            19 => Self::SetText(a),
            20 => Self::LastInTextNode,
            21 => Self::Name,
            22 => Self::SetName(a),
            23 => Self::PublicId,
            24 => Self::SystemId,
            25..=30 => {
                let place = [
                    Place::Before,
                    Place::After,
                    Place::Replace,
                    Place::Prepend,
                    Place::Append,
                    Place::SetInnerContent,
                ][(method - 25) as usize];
                Self::Streamed(place, a.parse().ok()?, kind)
            }
            _ => return None,
        })
    }
}

/// A token method's answer, as JavaScript sees it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Reply {
    Nothing,
    Flag(bool),
    Text(Option<String>),
    Attributes(Vec<(String, String)>),
}

/// Said when a call reaches a token that has no such method: the JavaScript classes offer only
/// each token's own, so only a bug gets here.
const NO_SUCH_METHOD: &str = "This content token has no such method.";

/// A token the JavaScript side can call methods of while its handler runs.
trait Token {
    fn call(&mut self, call: Call, suspend: Suspend) -> Result<Reply, String>;
}

impl Token for Element<'_, '_> {
    fn call(&mut self, call: Call, suspend: Suspend) -> Result<Reply, String> {
        Ok(match call {
            Call::Before(content, kind) => {
                self.before(&content, kind);
                Reply::Nothing
            }
            Call::After(content, kind) => {
                self.after(&content, kind);
                Reply::Nothing
            }
            Call::Replace(content, kind) => {
                self.replace(&content, kind);
                Reply::Nothing
            }
            Call::Prepend(content, kind) => {
                self.prepend(&content, kind);
                Reply::Nothing
            }
            Call::Append(content, kind) => {
                self.append(&content, kind);
                Reply::Nothing
            }
            Call::SetInnerContent(content, kind) => {
                self.set_inner_content(&content, kind);
                Reply::Nothing
            }
            Call::Remove => {
                self.remove();
                Reply::Nothing
            }
            Call::RemoveAndKeepContent => {
                self.remove_and_keep_content();
                Reply::Nothing
            }
            Call::Removed => Reply::Flag(self.removed()),
            Call::TagName => Reply::Text(Some(self.tag_name())),
            Call::SetTagName(name) => {
                self.set_tag_name(&name).map_err(|e| e.to_string())?;
                Reply::Nothing
            }
            Call::NamespaceUri => Reply::Text(Some(self.namespace_uri().to_owned())),
            Call::Attributes => Reply::Attributes(
                self.attributes()
                    .iter()
                    .map(|attribute| (attribute.name(), attribute.value()))
                    .collect(),
            ),
            Call::GetAttribute(name) => Reply::Text(self.get_attribute(&name)),
            Call::HasAttribute(name) => Reply::Flag(self.has_attribute(&name)),
            Call::SetAttribute(name, value) => {
                self.set_attribute(&name, &value)
                    .map_err(|e| e.to_string())?;
                Reply::Nothing
            }
            Call::RemoveAttribute(name) => {
                self.remove_attribute(&name);
                Reply::Nothing
            }
            Call::Streamed(place, stream, kind) => {
                let content = StreamedContent::boxed(suspend, stream, kind);
                match place {
                    Place::Before => self.streaming_before(content),
                    Place::After => self.streaming_after(content),
                    Place::Replace => self.streaming_replace(content),
                    Place::Prepend => self.streaming_prepend(content),
                    Place::Append => self.streaming_append(content),
                    Place::SetInnerContent => self.streaming_set_inner_content(content),
                }
                Reply::Nothing
            }
            Call::OnEndTag(slot) => {
                let handlers = self.end_tag_handlers().ok_or("No end tag.")?;
                handlers.push(Box::new(move |end: &mut EndTag<'_>| {
                    suspend.handle(slot, end)
                }));
                Reply::Nothing
            }
            _ => return Err(NO_SUCH_METHOD.into()),
        })
    }
}

impl Token for EndTag<'_> {
    fn call(&mut self, call: Call, suspend: Suspend) -> Result<Reply, String> {
        Ok(match call {
            Call::Before(content, kind) => {
                self.before(&content, kind);
                Reply::Nothing
            }
            Call::After(content, kind) => {
                self.after(&content, kind);
                Reply::Nothing
            }
            Call::Remove => {
                self.remove();
                Reply::Nothing
            }
            Call::Name => Reply::Text(Some(self.name())),
            Call::SetName(name) => {
                self.set_name(name);
                Reply::Nothing
            }
            Call::Streamed(place @ (Place::Before | Place::After), stream, kind) => {
                let content = StreamedContent::boxed(suspend, stream, kind);
                match place {
                    Place::Before => self.streaming_before(content),
                    _ => self.streaming_after(content),
                }
                Reply::Nothing
            }
            _ => return Err(NO_SUCH_METHOD.into()),
        })
    }
}

impl Token for TextChunk<'_> {
    fn call(&mut self, call: Call, suspend: Suspend) -> Result<Reply, String> {
        Ok(match call {
            Call::Before(content, kind) => {
                self.before(&content, kind);
                Reply::Nothing
            }
            Call::After(content, kind) => {
                self.after(&content, kind);
                Reply::Nothing
            }
            Call::Replace(content, kind) => {
                self.replace(&content, kind);
                Reply::Nothing
            }
            Call::Remove => {
                self.remove();
                Reply::Nothing
            }
            Call::Removed => Reply::Flag(self.removed()),
            Call::Text => Reply::Text(Some(self.as_str().to_owned())),
            Call::LastInTextNode => Reply::Flag(self.last_in_text_node()),
            Call::Streamed(
                place @ (Place::Before | Place::After | Place::Replace),
                stream,
                kind,
            ) => {
                let content = StreamedContent::boxed(suspend, stream, kind);
                match place {
                    Place::Before => self.streaming_before(content),
                    Place::After => self.streaming_after(content),
                    _ => self.streaming_replace(content),
                }
                Reply::Nothing
            }
            _ => return Err(NO_SUCH_METHOD.into()),
        })
    }
}

impl Token for Comment<'_> {
    fn call(&mut self, call: Call, _: Suspend) -> Result<Reply, String> {
        Ok(match call {
            Call::Before(content, kind) => {
                self.before(&content, kind);
                Reply::Nothing
            }
            Call::After(content, kind) => {
                self.after(&content, kind);
                Reply::Nothing
            }
            Call::Replace(content, kind) => {
                self.replace(&content, kind);
                Reply::Nothing
            }
            Call::Remove => {
                self.remove();
                Reply::Nothing
            }
            Call::Removed => Reply::Flag(self.removed()),
            Call::Text => Reply::Text(Some(self.text())),
            Call::SetText(text) => {
                self.set_text(&text).map_err(|e| e.to_string())?;
                Reply::Nothing
            }
            _ => return Err(NO_SUCH_METHOD.into()),
        })
    }
}

impl Token for Doctype<'_> {
    fn call(&mut self, call: Call, _: Suspend) -> Result<Reply, String> {
        Ok(match call {
            Call::Name => Reply::Text(self.name()),
            Call::PublicId => Reply::Text(self.public_id()),
            Call::SystemId => Reply::Text(self.system_id()),
            Call::Remove => {
                self.remove();
                Reply::Nothing
            }
            Call::Removed => Reply::Flag(self.removed()),
            _ => return Err(NO_SUCH_METHOD.into()),
        })
    }
}

impl Token for DocumentEnd<'_> {
    fn call(&mut self, call: Call, _: Suspend) -> Result<Reply, String> {
        match call {
            Call::Append(content, kind) => {
                self.append(&content, kind);
                Ok(Reply::Nothing)
            }
            _ => Err(NO_SUCH_METHOD.into()),
        }
    }
}

/// The error a handler returns to lol_html when its JavaScript handler threw; lol_html stops
/// and the JavaScript side rethrows the handler's own exception.
#[derive(Debug, thiserror::Error)]
#[error("a content handler threw")]
struct HandlerThrew;

/// A handler's way out of the coroutine: suspends it to run a JavaScript handler.
///
/// It holds the coroutine's [`Yielder`] as `'static` because lol_html takes end-tag handlers
/// only as `'static` closures. It is made in the coroutine's body, and every handler holding it
/// belongs to the `HtmlRewriter` made there, which the body owns and drops before it returns
/// (or, if the coroutine is dropped while suspended, while corosensei unwinds its stack): no
/// copy is used after the yielder is gone.
#[derive(Clone, Copy)]
struct Suspend(&'static Yielder<Input, Step>);

impl Suspend {
    /// # Safety
    /// Every copy of the result must be gone before the coroutine that `yielder` belongs to
    /// returns (see the type's docs).
    unsafe fn new(yielder: &Yielder<Input, Step>) -> Self {
        // SAFETY: the caller keeps every copy within the yielder's life.
        Self(unsafe {
            std::mem::transmute::<&Yielder<Input, Step>, &'static Yielder<Input, Step>>(yielder)
        })
    }

    /// Runs JavaScript handler `slot` on `token`: yields the slot, then serves the calls of the
    /// JavaScript token until the JavaScript side says the handler is done.
    fn handle(self, slot: u32, token: &mut impl Token) -> HandlerResult {
        let mut input = self.0.suspend(Step::Handler(slot));
        loop {
            input = match input {
                Input::Call(call) => self.0.suspend(Step::Reply(token.call(call, self))),
                Input::Done(true) => return Ok(()),
                Input::Done(false)
                | Input::Write(_)
                | Input::End
                | Input::Content(_)
                | Input::ContentFailed => {
                    return Err(Box::new(HandlerThrew));
                }
            }
        }
    }
}

/// Content a handler gave as a stream: when lol_html reaches its place in the output, it is
/// pulled from the JavaScript side chunk by chunk, one suspension per chunk.
struct StreamedContent {
    suspend: Suspend,
    stream: u32,
    kind: ContentType,
}

// SAFETY: lol_html asks `Send` of every streaming handler because its `Send` rewriters may move
// between threads; the rewriter here is a local one (`LocalHandlerTypes`), made, used and
// dropped on the coroutine's stack, on the isolate's thread, so this never moves.
unsafe impl Send for StreamedContent {}

impl StreamedContent {
    fn boxed(suspend: Suspend, stream: u32, kind: ContentType) -> Box<Self> {
        Box::new(Self {
            suspend,
            stream,
            kind,
        })
    }
}

impl StreamingHandler for StreamedContent {
    fn write_all(self: Box<Self>, sink: &mut StreamingHandlerSink<'_>) -> HandlerResult {
        loop {
            match self.suspend.0.suspend(Step::Content(self.stream)) {
                Input::Content(Some(chunk)) => sink.write_utf8_chunk(&chunk, self.kind)?,
                Input::Content(None) => return Ok(()),
                _ => return Err(Box::new(HandlerThrew)),
            }
        }
    }
}

/// The coroutine's body: a rewriter built from `plan`, fed until the document ends or fails.
fn rewrite(
    plan: &Plan,
    encoding: AsciiCompatibleEncoding,
    output: &RefCell<Vec<u8>>,
    yielder: &Yielder<Input, Step>,
    mut input: Input,
) -> Result<(), Failure> {
    // SAFETY: the copies go to the handlers of `rewriter`, dropped before this function returns.
    let suspend = unsafe { Suspend::new(yielder) };
    let mut settings = Settings::new()
        .with_encoding(encoding)
        .with_strict(true)
        .with_memory_settings(
            MemorySettings::new()
                .with_preallocated_parsing_buffer_size(1024)
                .with_max_allowed_memory_usage(MAX_PARSER_BYTES),
        );
    for on in &plan.elements {
        let selector: Selector = on
            .selector
            .parse()
            .map_err(|e: lol_html::errors::SelectorError| Failure::Rewriting(e.to_string()))?;
        let mut handlers = ElementContentHandlers::default();
        if let Some(slot) = on.element {
            handlers = handlers.element(move |el: &mut Element<'_, '_>| suspend.handle(slot, el));
        }
        if let Some(slot) = on.comments {
            handlers = handlers.comments(move |c: &mut Comment<'_>| suspend.handle(slot, c));
        }
        if let Some(slot) = on.text {
            handlers = handlers.text(move |t: &mut TextChunk<'_>| suspend.handle(slot, t));
        }
        settings = settings.append_element_content_handler((Cow::Owned(selector), handlers));
    }
    for on in &plan.documents {
        let mut handlers = DocumentContentHandlers::default();
        if let Some(slot) = on.doctype {
            handlers = handlers.doctype(move |d: &mut Doctype<'_>| suspend.handle(slot, d));
        }
        if let Some(slot) = on.comments {
            handlers = handlers.comments(move |c: &mut Comment<'_>| suspend.handle(slot, c));
        }
        if let Some(slot) = on.text {
            handlers = handlers.text(move |t: &mut TextChunk<'_>| suspend.handle(slot, t));
        }
        if let Some(slot) = on.end {
            handlers = handlers.end(move |e: &mut DocumentEnd<'_>| suspend.handle(slot, e));
        }
        settings = settings.append_document_content_handler(handlers);
    }
    let mut rewriter = HtmlRewriter::new(settings, |chunk: &[u8]| {
        output.borrow_mut().extend_from_slice(chunk);
    });
    loop {
        match input {
            Input::Write(chunk) => rewriter.write(&chunk).map_err(failure)?,
            Input::End => return rewriter.end().map_err(failure),
            Input::Call(_) | Input::Done(_) | Input::Content(_) | Input::ContentFailed => {
                return Err(Failure::Rewriting("no content handler is running".into()));
            }
        }
        input = yielder.suspend(Step::Written);
    }
}

fn failure(error: RewritingError) -> Failure {
    match error {
        RewritingError::ContentHandlerError(e) if e.is::<HandlerThrew>() => Failure::Handler,
        other => Failure::Rewriting(other.to_string()),
    }
}

/// What the steps of a transformation answer JavaScript: the handler to run (a slot number,
/// zero or more), or one of these.
const WRITTEN: i32 = -1;
const FINISHED: i32 = -2;
const HANDLER_THREW: i32 = -3;
/// Streamed content `n` wants its next chunk: `CONTENT - n`.
const CONTENT: i32 = -10;

/// One `transform()` in progress.
struct RewriterResource {
    /// None once the transformation is abandoned (its request ended, or JavaScript closed it).
    coroutine: RefCell<Option<Rewriting>>,
    output: Rc<RefCell<Vec<u8>>>,
    /// Whether a JavaScript handler is running (the coroutine waits in [`Suspend::handle`]).
    in_handler: Cell<bool>,
    /// Whether the coroutine waits for a chunk of streamed content.
    in_content: Cell<bool>,
    /// Whether the coroutine has returned.
    finished: Cell<bool>,
    memory: Arc<ExternalMemory>,
}

impl Resource for RewriterResource {
    fn name(&self) -> std::borrow::Cow<'_, str> {
        "skiffHtmlRewriter".into()
    }
}

impl Drop for RewriterResource {
    fn drop(&mut self) {
        self.abandon();
    }
}

impl RewriterResource {
    /// Drops the coroutine (unwinding it if a handler was waiting) and gives its charge back.
    fn abandon(&self) {
        if let Some(coroutine) = self.coroutine.borrow_mut().take() {
            drop(coroutine);
            self.output.borrow_mut().clear();
            self.memory.sub(CHARGE);
        }
    }

    fn resume(
        &self,
        input: Input,
    ) -> Result<CoroutineResult<Step, Result<(), Failure>>, JsErrorBox> {
        let mut coroutine = self.coroutine.borrow_mut();
        let coroutine = coroutine.as_mut().ok_or_else(|| {
            JsErrorBox::type_error(
                "Cannot perform I/O on behalf of a different request: this HTMLRewriter transformation belonged to a request that has ended.",
            )
        })?;
        Ok(coroutine.resume(input))
    }

    fn step(&self, input: Input) -> Result<i32, JsErrorBox> {
        if self.finished.get() {
            return Err(parser_error("The rewriter has already finished."));
        }
        match self.resume(input)? {
            CoroutineResult::Yield(Step::Written) => Ok(WRITTEN),
            CoroutineResult::Yield(Step::Handler(slot)) => {
                self.in_handler.set(true);
                Ok(slot as i32)
            }
            CoroutineResult::Yield(Step::Content(stream)) => {
                self.in_content.set(true);
                Ok(CONTENT - stream as i32)
            }
            CoroutineResult::Yield(Step::Reply(_)) => {
                Err(parser_error("The rewriter answered a call nobody made."))
            }
            CoroutineResult::Return(result) => {
                self.finished.set(true);
                match result {
                    Ok(()) => Ok(FINISHED),
                    Err(Failure::Handler) => Ok(HANDLER_THREW),
                    Err(Failure::Rewriting(message)) => Err(parser_error(&message)),
                }
            }
        }
    }
}

/// lol_html's refusals, as workerd reports them.
fn parser_error(message: &str) -> JsErrorBox {
    JsErrorBox::type_error(format!("Parser error: {message}"))
}

fn check_selector(selector: &str) -> Result<(), JsErrorBox> {
    selector
        .parse::<Selector>()
        .map(drop)
        .map_err(|e| parser_error(&e.to_string()))
}

/// Checks a selector for `HTMLRewriter.prototype.on`.
#[op2(fast)]
pub fn op_skiff_html_selector(#[string] selector: &str) -> Result<(), JsErrorBox> {
    check_selector(selector)
}

/// Starts a transformation of the handlers in `plan` for invocation `invocation`; its resource
/// id. It is abandoned when the invocation ends: a body left unread gives its memory back then.
#[op2]
#[smi]
pub fn op_skiff_html_new(
    state: &mut OpState,
    #[serde] plan: Plan,
    #[smi] invocation: u32,
) -> Result<ResourceId, JsErrorBox> {
    let encoding = encoding_rs::Encoding::for_label_no_replacement(plan.encoding.as_bytes())
        .ok_or_else(|| parser_error("Unknown character encoding has been provided."))?;
    let encoding = AsciiCompatibleEncoding::new(encoding)
        .ok_or_else(|| parser_error("Expected ASCII-compatible encoding."))?;
    for on in &plan.elements {
        check_selector(&on.selector)?;
    }
    let stack = DefaultStack::new(STACK_BYTES)
        .map_err(|e| JsErrorBox::generic(format!("HTMLRewriter: no stack: {e}")))?;
    let output = Rc::new(RefCell::new(Vec::new()));
    let sink = output.clone();
    let coroutine = Coroutine::with_stack(stack, move |yielder, input| {
        rewrite(&plan, encoding, &sink, yielder, input)
    });
    let memory = crate::external_memory(state);
    memory.add(CHARGE);
    let resource = Rc::new(RewriterResource {
        coroutine: RefCell::new(Some(coroutine)),
        output,
        in_handler: Cell::new(false),
        in_content: Cell::new(false),
        finished: Cell::new(false),
        memory,
    });
    let abandoned = Rc::downgrade(&resource);
    crate::invocation::invocations(state).at_end(invocation, move || {
        if let Some(resource) = abandoned.upgrade() {
            resource.abandon();
        }
    });
    Ok(state.resource_table.add_rc(resource))
}

fn rewriter(state: &OpState, rid: ResourceId) -> Result<Rc<RewriterResource>, JsErrorBox> {
    state
        .resource_table
        .get::<RewriterResource>(rid)
        .map_err(|_| JsErrorBox::type_error("The rewriter is closed."))
}

/// Rewrites `chunk` (copied first, so a buffer changed by a handler cannot change it):
/// [`WRITTEN`], or a handler to run.
#[op2]
pub fn op_skiff_html_write(
    state: &mut OpState,
    #[smi] rid: ResourceId,
    #[anybuffer] chunk: &[u8],
) -> Result<i32, JsErrorBox> {
    let rewriter = rewriter(state, rid)?;
    if rewriter.in_handler.get() || rewriter.in_content.get() {
        return Err(parser_error("A content handler is still running."));
    }
    rewriter.step(Input::Write(chunk.to_vec()))
}

/// Ends the document: [`FINISHED`], or a handler to run (the end of the document, end tags).
#[op2(fast)]
pub fn op_skiff_html_end(state: &mut OpState, #[smi] rid: ResourceId) -> Result<i32, JsErrorBox> {
    let rewriter = rewriter(state, rid)?;
    if rewriter.in_handler.get() || rewriter.in_content.get() {
        return Err(parser_error("A content handler is still running."));
    }
    rewriter.step(Input::End)
}

/// The running handler is done (`completed`: it did not throw): where the rewriter goes next.
#[op2(fast)]
pub fn op_skiff_html_done(
    state: &mut OpState,
    #[smi] rid: ResourceId,
    completed: bool,
) -> Result<i32, JsErrorBox> {
    let rewriter = rewriter(state, rid)?;
    if !rewriter.in_handler.replace(false) {
        return Err(parser_error("No content handler is running."));
    }
    rewriter.step(Input::Done(completed))
}

/// Gives streamed content its next chunk (copied first), or its end (`None`), or (`failed`) says
/// that reading it failed: where the rewriter goes next.
#[op2]
pub fn op_skiff_html_content(
    state: &mut OpState,
    #[smi] rid: ResourceId,
    #[anybuffer] chunk: Option<&[u8]>,
    failed: bool,
) -> Result<i32, JsErrorBox> {
    let rewriter = rewriter(state, rid)?;
    if !rewriter.in_content.replace(false) {
        return Err(parser_error("No streamed content is being written."));
    }
    let input = match (failed, chunk) {
        (true, _) => Input::ContentFailed,
        (false, chunk) => Input::Content(chunk.map(<[u8]>::to_vec)),
    };
    rewriter.step(input)
}

/// Calls method `method` (with `a`, `b`, and `html` for content) on the running handler's
/// token.
#[op2]
#[serde]
pub fn op_skiff_html_call(
    state: &mut OpState,
    #[smi] rid: ResourceId,
    #[smi] method: u32,
    #[string] a: String,
    #[string] b: String,
    html: bool,
) -> Result<Reply, JsErrorBox> {
    let rewriter = rewriter(state, rid)?;
    if !rewriter.in_handler.get() {
        return Err(JsErrorBox::type_error(
            "This content token is no longer valid. Content tokens are only valid during the execution of the relevant content handler.",
        ));
    }
    let call =
        Call::decode(method, a, b, html).ok_or_else(|| JsErrorBox::type_error(NO_SUCH_METHOD))?;
    match rewriter.resume(Input::Call(call))? {
        CoroutineResult::Yield(Step::Reply(reply)) => reply.map_err(|e| parser_error(&e)),
        _ => Err(parser_error("The rewriter did not answer a call.")),
    }
}

/// What the rewriter has written since the last call.
#[op2]
#[buffer]
pub fn op_skiff_html_output(
    state: &mut OpState,
    #[smi] rid: ResourceId,
) -> Result<Vec<u8>, JsErrorBox> {
    Ok(std::mem::take(
        &mut *rewriter(state, rid)?.output.borrow_mut(),
    ))
}

/// Drops a transformation, finished or not (a suspended one is unwound).
#[op2(fast)]
pub fn op_skiff_html_close(state: &mut OpState, #[smi] rid: ResourceId) {
    if let Ok(rewriter) = state.resource_table.take::<RewriterResource>(rid) {
        drop(rewriter);
    }
}
