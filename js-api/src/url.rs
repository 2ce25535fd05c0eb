//! The tenant `URL` parses with ada, the WHATWG URL parser of workerd and Node, instead of
//! deno_web's rust-url: rust-url departs from the standard in a few corners the WPT url tests
//! measure (file: hosts, the `/.` path prefix, opaque paths with trailing spaces, ...).
//!
//! deno_web's `URL` class (00_url.js) stays: it calls four ops and slices its serialization by
//! eight offsets in rust-url's layout. [`use_ada`] swaps those ops' implementations for ones
//! that parse with ada and write the same layout, so the JavaScript keeps working unchanged.

use std::borrow::Cow;
use std::sync::OnceLock;

use ada_url::{Idna, SchemeType, Url};
use deno_core::{Extension, OpDecl, OpState, op2};

/// What the parse ops return; the numbers are the ones 00_url.js checks.
#[repr(u32)]
enum ParseStatus {
    /// Parsed, and the serialization is the input.
    Ok = 0,
    /// Parsed; the serialization differs and `op_url_get_serialization` hands it over.
    OkSerialization = 1,
    Err = 2,
}

/// 00_url.js' "no port" value (a port is at most 65535).
const NO_PORT: u32 = 65536;

/// The serialization of the last parse, waiting for `op_url_get_serialization`.
struct Serialization(String);

/// Points deno_web's URL ops at this module's implementations. Call on the extension
/// `deno_web::deno_web::init` returned, before the runtime is created: the op table is
/// rewritten once per process and shared by every runtime after that.
pub fn use_ada(web: &mut Extension) {
    static OPS: OnceLock<SharedOps> = OnceLock::new();
    let SharedOps(ops) = OPS.get_or_init(|| {
        let replaced: Vec<OpDecl> = web
            .ops
            .iter()
            .map(|op| match op.name {
                "op_url_parse" => op.with_implementation_from(&op_url_parse()),
                "op_url_parse_with_base" => op.with_implementation_from(&op_url_parse_with_base()),
                "op_url_reparse" => op.with_implementation_from(&op_url_reparse()),
                "op_url_get_serialization" => {
                    op.with_implementation_from(&op_url_get_serialization())
                }
                _ => *op,
            })
            .collect();
        SharedOps(Box::leak(replaced.into_boxed_slice()))
    });
    web.ops = Cow::Borrowed(ops);
}

/// deno_web's op table with the URL ops replaced, made once and kept for the process.
struct SharedOps(&'static [OpDecl]);

// SAFETY: an `OpDecl` is plain data: names, flags, function pointers, and pointers to the
// engine's static, immutable descriptions of fast functions. Nothing writes through them, and
// deno_core's own op tables are `&'static [OpDecl]` constants that every thread reads.
unsafe impl Sync for SharedOps {}
unsafe impl Send for SharedOps {}

#[op2(fast)]
#[smi]
fn op_url_parse(state: &mut OpState, #[string] href: &str, #[buffer] buf: &mut [u32]) -> u32 {
    finish(state, href, parse(href, None), buf)
}

#[op2(fast)]
#[smi]
fn op_url_parse_with_base(
    state: &mut OpState,
    #[string] href: &str,
    #[string] base_href: &str,
    #[buffer] buf: &mut [u32],
) -> u32 {
    finish(state, href, parse(href, Some(base_href)), buf)
}

/// Parses with ada, then refuses what ada lets through unchecked (see [`valid_host`]).
fn parse(input: &str, base: Option<&str>) -> Option<Url> {
    Url::parse(input, base).ok().filter(valid_host)
}

/// Whether a special URL's host passes the standard's domain-to-ASCII. ada's URL parser copies
/// an ASCII label that starts with `xn--` without decoding it, where the standard decodes and
/// checks it (invalid Punycode, a result that is not NFC, holds disallowed code points, breaks
/// the joiner or bidi rules, or itself starts with `xn--`: failure). ada's own IDNA to-Unicode
/// does those checks and leaves a label that fails them undecoded, so a host is valid when no
/// label still starts with `xn--` after it. Hosts of non-special URLs are opaque: not checked.
fn valid_host(url: &Url) -> bool {
    let host = url.hostname();
    url.scheme_type() == SchemeType::NotSpecial
        || !host.contains("xn--")
        || !Idna::unicode(host)
            .split('.')
            .any(|label| label.starts_with("xn--"))
}

#[op2]
#[string]
fn op_url_get_serialization(state: &mut OpState) -> String {
    state
        .try_take::<Serialization>()
        .map(|s| s.0)
        .unwrap_or_default()
}

/// The setters of 00_url.js, by the numbers it passes.
const SET_HASH: u8 = 0;
const SET_HOST: u8 = 1;
const SET_HOSTNAME: u8 = 2;
const SET_PASSWORD: u8 = 3;
const SET_PATHNAME: u8 = 4;
const SET_PORT: u8 = 5;
const SET_PROTOCOL: u8 = 6;
const SET_SEARCH: u8 = 7;
const SET_USERNAME: u8 = 8;

#[op2(fast)]
#[smi]
fn op_url_reparse(
    state: &mut OpState,
    #[string] href: String,
    #[smi] setter: u8,
    #[string] setter_value: String,
    #[buffer] buf: &mut [u32],
) -> u32 {
    let url = parse(&href, None)
        .and_then(|url| set(url, setter, &setter_value))
        .filter(valid_host);
    finish(state, &href, url, buf)
}

/// Runs one setter; `None` when the standard says the setter fails (the URL stays as it was).
fn set(mut url: Url, setter: u8, value: &str) -> Option<Url> {
    let result = match setter {
        SET_HASH => {
            url.set_hash(Some(value));
            Ok(())
        }
        SET_HOST => url.set_host(Some(value)),
        SET_HOSTNAME => url.set_hostname(Some(value)),
        SET_PASSWORD => url.set_password(Some(value)),
        SET_PATHNAME => url.set_pathname(Some(value)),
        SET_PORT => url.set_port(Some(value)),
        SET_PROTOCOL => url.set_protocol(value),
        SET_SEARCH => {
            url.set_search(Some(value));
            Ok(())
        }
        SET_USERNAME => url.set_username(Some(value)),
        _ => Err(()),
    };
    result.ok().map(|()| url)
}

/// Writes a parse result for 00_url.js: the offsets into `buf`, and the serialization into
/// the op state when it is not `input`.
fn finish(state: &mut OpState, input: &str, url: Option<Url>, buf: &mut [u32]) -> u32 {
    let Some(url) = url else {
        return ParseStatus::Err as u32;
    };
    let Some(offsets) = offsets(&url) else {
        return ParseStatus::Err as u32;
    };
    buf[..8].copy_from_slice(&offsets);
    let href = url.href();
    if href == input {
        ParseStatus::Ok as u32
    } else {
        state.put(Serialization(href.to_owned()));
        ParseStatus::OkSerialization as u32
    }
}

/// The eight offsets 00_url.js slices the serialization by, in rust-url's layout: the scheme's
/// `:`, the end of the username, the start and end of the hostname, the port (or `NO_PORT`),
/// the start of the path, the `?` and the `#` (0 when absent). A serialization is ASCII, so
/// byte offsets are also UTF-16 offsets.
fn offsets(url: &Url) -> Option<[u32; 8]> {
    let href = url.href().as_bytes();
    let c = url.components();
    let len = u32::try_from(href.len()).ok()?;
    let scheme_end = c.protocol_end.checked_sub(1)?;
    let path_start = c
        .pathname_start
        .or(c.search_start)
        .or(c.hash_start)
        .unwrap_or(len);
    let has_authority = href.get(c.protocol_end as usize..)?.starts_with(b"//");
    let (username_end, host_start, host_end, port) = if has_authority {
        // ada's host_start is at the `@` when there are credentials; rust-url's is after it.
        let at = href.get(c.host_start as usize) == Some(&b'@');
        let host_start = c.host_start + u32::from(at);
        (
            c.username_end,
            host_start,
            c.host_end,
            c.port.unwrap_or(NO_PORT),
        )
    } else {
        // No host: the host getters must read empty, and a `/.` that keeps a path starting
        // with `//` from reading as a host lies before the path, outside every component.
        (path_start, path_start, path_start, NO_PORT)
    };
    Some([
        scheme_end,
        username_end,
        host_start,
        host_end,
        port,
        path_start,
        c.search_start.unwrap_or(0),
        c.hash_start.unwrap_or(0),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL's parts as 00_url.js reads them from the offsets.
    fn parts(input: &str) -> [String; 8] {
        let url = Url::parse(input, None).expect("parses");
        let href = url.href();
        let [
            scheme_end,
            username_end,
            host_start,
            host_end,
            port,
            path_start,
            query,
            fragment,
        ] = offsets(&url).expect("offsets").map(|n| n as usize);
        let slice = |from: usize, to: usize| href.get(from..to).unwrap_or("").to_owned();
        let authority = href[scheme_end..].starts_with("://");
        let username = if authority && username_end > scheme_end + 3 {
            slice(scheme_end + 3, username_end)
        } else {
            String::new()
        };
        let password = if authority && href.as_bytes().get(username_end) == Some(&b':') {
            slice(username_end + 1, host_start - 1)
        } else {
            String::new()
        };
        let port = if port as u32 == NO_PORT {
            slice(host_end, path_start)
        } else {
            slice(host_end + 1, path_start)
        };
        let path_end = [query, fragment]
            .into_iter()
            .find(|&n| n != 0)
            .unwrap_or(href.len());
        let query_end = if fragment != 0 { fragment } else { href.len() };
        let trim = |s: String| if s.len() == 1 { String::new() } else { s };
        [
            slice(0, scheme_end + 1),
            username,
            password,
            slice(host_start, host_end),
            port,
            slice(path_start, path_end),
            trim(if query != 0 {
                slice(query, query_end)
            } else {
                String::new()
            }),
            trim(if fragment != 0 {
                slice(fragment, href.len())
            } else {
                String::new()
            }),
        ]
    }

    #[track_caller]
    fn check(input: &str) {
        let url = Url::parse(input, None).expect("parses");
        let expected = [
            url.protocol(),
            url.username(),
            url.password(),
            url.hostname(),
            url.port(),
            url.pathname(),
            url.search(),
            url.hash(),
        ]
        .map(str::to_owned);
        assert_eq!(
            parts(input),
            expected,
            "{input} (serialized {})",
            url.href()
        );
    }

    #[test]
    fn the_offsets_read_back_every_part() {
        for input in [
            "https://user:pass@example.com:8080/a/b?q=1#frag",
            "https://user@example.com/",
            "https://:pass@example.com/",
            "http://example.com",
            "http://example.com:0/",
            "http://[::1]:99/x",
            "file:///C:/dir/file",
            "file://host/share",
            "web+demo:/.//not-a-host/",
            "web+demo://host/path",
            "mailto:someone@example.com?subject=hi",
            "data:text/plain,space   #frag",
            "blob:https://example.com/uuid",
            "http://example.com/?",
            "http://example.com/#",
            "non-spec:/",
            "sc://\u{00f1}/x",
        ] {
            check(input);
        }
    }

    #[test]
    fn punycode_labels_are_checked_in_special_urls_only() {
        assert!(parse("https://xn--a/", None).is_none(), "invalid Punycode");
        assert!(parse("https://a.b.c.XN--pokxncvks/", None).is_none());
        assert!(parse("file://xn--/p", None).is_none());
        assert!(
            parse("https://xn--nxasmq6b.example/", None).is_some(),
            "a valid label"
        );
        assert!(parse("sc://xn--a/", None).is_some(), "an opaque host");
        let url = parse("https://example.com/", None).expect("parses");
        assert!(set(url, SET_HOSTNAME, "xn--").filter(valid_host).is_none());
    }

    #[test]
    fn setters_that_fail_leave_no_url() {
        let url = Url::parse("https://example.com/", None).expect("parses");
        assert!(set(url, SET_PORT, "99999").is_none());
        let url = Url::parse("mailto:x", None).expect("parses");
        assert!(set(url, SET_HOST, "example.com").is_none());
        let url = Url::parse("https://example.com/", None).expect("parses");
        let url = set(url, SET_PORT, "8080").expect("a valid port");
        assert_eq!(url.href(), "https://example.com:8080/");
    }
}
