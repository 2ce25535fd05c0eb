//! Workers KV: Cloudflare's limits and the checks that enforce them, and the shapes a KV change
//! takes on the wire (the admin API, a node's write, the sync channel).
//!
//! The checks return a [`KvRefusal`] with the HTTP status and the message Cloudflare's KV
//! service answers; the tenant API (`js-api`) turns it into the `Error` workerd throws
//! ("KV PUT failed: 413 Value length of ... exceeds limit of 26214400."), the admin API into
//! the status and an `ErrorBody`. Every writer checks with the same functions.

use serde::{Deserialize, Serialize};

/// The longest key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// The largest value: 25 MiB.
pub const MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
/// The largest metadata, serialised as JSON.
pub const MAX_METADATA_BYTES: usize = 1024;
/// The shortest `expirationTtl`, and how far ahead an absolute `expiration` must be, in seconds.
pub const MIN_EXPIRATION_TTL: u64 = 60;
/// The most keys one `list()` page holds (also its default).
pub const MAX_LIST_LIMIT: usize = 1000;
/// The shortest `cacheTtl` of a read, in seconds.
pub const MIN_CACHE_TTL: u64 = 30;
/// The longest namespace title.
pub const MAX_TITLE_BYTES: usize = 512;

/// A KV request refused by a limit: the status and message Cloudflare's KV service answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvRefusal {
    pub status: u16,
    pub message: String,
}

impl KvRefusal {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The text workerd puts in the `Error` it throws: `KV PUT failed: 413 ...`.
    pub fn for_method(&self, method: &str) -> String {
        format!("KV {method} failed: {} {}", self.status, self.message)
    }
}

impl std::fmt::Display for KvRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

/// A key's name: not empty, not `.` or `..`, at most 512 UTF-8 bytes. (The tenant API refuses
/// the first three with workerd's `TypeError`s before asking; the service's own answers are
/// these.)
pub fn check_key(key: &str) -> Result<(), KvRefusal> {
    match key {
        "" => Err(KvRefusal::new(400, "Key names must not be empty")),
        "." | ".." => Err(KvRefusal::new(
            400,
            format!("Illegal key name \"{key}\". Please use a different name."),
        )),
        _ if key.len() > MAX_KEY_BYTES => Err(KvRefusal::new(
            414,
            format!(
                "UTF-8 encoded length of {} exceeds key length limit of {MAX_KEY_BYTES}.",
                key.len()
            ),
        )),
        _ => Ok(()),
    }
}

pub fn check_value_size(size: usize) -> Result<(), KvRefusal> {
    if size > MAX_VALUE_BYTES {
        return Err(KvRefusal::new(
            413,
            format!("Value length of {size} exceeds limit of {MAX_VALUE_BYTES}."),
        ));
    }
    Ok(())
}

/// Metadata as its JSON text: at most 1024 bytes.
pub fn check_metadata(json: &str) -> Result<(), KvRefusal> {
    if json.len() > MAX_METADATA_BYTES {
        return Err(KvRefusal::new(
            413,
            format!(
                "Metadata length of {} exceeds limit of {MAX_METADATA_BYTES}.",
                json.len()
            ),
        ));
    }
    if serde_json::from_str::<serde_json::Value>(json).is_err() {
        return Err(KvRefusal::new(400, "Metadata is not valid JSON."));
    }
    Ok(())
}

/// The absolute expiration (seconds since the Unix epoch) of a write made at `now` with the
/// given `expiration` or `expiration_ttl` (the TTL wins when both are given, as Cloudflare's
/// service does), or `None` for a key that never expires.
pub fn expiration_at(
    now: u64,
    expiration: Option<f64>,
    expiration_ttl: Option<f64>,
) -> Result<Option<u64>, KvRefusal> {
    if let Some(ttl) = expiration_ttl {
        if !ttl.is_finite() || ttl < MIN_EXPIRATION_TTL as f64 {
            return Err(KvRefusal::new(
                400,
                format!(
                    "Invalid expiration_ttl of {}. Expiration TTL must be at least \
                     {MIN_EXPIRATION_TTL}.",
                    number(ttl)
                ),
            ));
        }
        return Ok(Some(now.saturating_add(ttl as u64)));
    }
    if let Some(at) = expiration {
        if !at.is_finite() || at < (now + MIN_EXPIRATION_TTL) as f64 {
            return Err(KvRefusal::new(
                400,
                format!(
                    "Invalid expiration of {}. Expiration times must be at least \
                     {MIN_EXPIRATION_TTL} seconds in the future.",
                    number(at)
                ),
            ));
        }
        return Ok(Some(at as u64));
    }
    Ok(None)
}

/// A list page's size: 1 to 1000, 1000 when not given.
pub fn check_list_limit(limit: Option<f64>) -> Result<usize, KvRefusal> {
    let Some(limit) = limit else {
        return Ok(MAX_LIST_LIMIT);
    };
    if !limit.is_finite() || limit < 1.0 {
        return Err(KvRefusal::new(
            400,
            format!(
                "Invalid key_count_limit of {}. Please specify an integer greater than 0.",
                number(limit)
            ),
        ));
    }
    if limit > MAX_LIST_LIMIT as f64 {
        return Err(KvRefusal::new(
            400,
            format!(
                "Invalid key_count_limit of {}. Please specify an integer less than \
                 {MAX_LIST_LIMIT}.",
                number(limit)
            ),
        ));
    }
    Ok(limit as usize)
}

/// A read's `cacheTtl`: at least 30 seconds.
pub fn check_cache_ttl(ttl: f64) -> Result<(), KvRefusal> {
    if !ttl.is_finite() || ttl < MIN_CACHE_TTL as f64 {
        return Err(KvRefusal::new(
            400,
            format!(
                "Invalid cache_ttl of {}. Cache TTL must be at least {MIN_CACHE_TTL}.",
                number(ttl)
            ),
        ));
    }
    Ok(())
}

/// A number as JavaScript prints it (no `.0` on integers).
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// The opaque cursor of a list page: the last key it returned, hex encoded so that it is plain
/// ASCII whatever the key holds.
pub fn encode_cursor(last_key: &str) -> String {
    hex::encode(last_key.as_bytes())
}

/// The key a cursor continues after; `None` for a cursor this service never made.
pub fn decode_cursor(cursor: &str) -> Option<String> {
    String::from_utf8(hex::decode(cursor).ok()?).ok()
}

/// A namespace, as the API lists it (Cloudflare's shape: `id`, `title`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvNamespaceInfo {
    pub id: String,
    pub title: String,
}

/// `POST /v1/kv/namespaces` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateKvNamespace {
    pub title: String,
}

/// One key of a list page (Cloudflare's shape: `expiration` and `metadata` only when set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KvKeyInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// A list page: `cursor` continues it, and is absent on the last page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KvListPage {
    pub keys: Vec<KvKeyInfo>,
    pub list_complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A key's value as the sync channel carries it: the bytes (base64) when they are small,
/// else only their size, and the node fetches them when a tenant reads the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// Standard base64 of the value, for values of at most [`INLINE_VALUE_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub size: u64,
    /// JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// Seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<u64>,
}

/// Values up to this size travel inside sync events; larger ones by `GET
/// /v1/kv/namespaces/{id}/values/{key}`.
pub const INLINE_VALUE_BYTES: usize = 64 * 1024;

/// One key's change: its new entry, or `None` when it was deleted. `revision` orders the
/// changes of a key: a node applies a change only over an older one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvChange {
    pub namespace: String,
    pub key: String,
    pub revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<KvEntry>,
}

/// The answer to a node's or the admin's write: the change as committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvWriteResponse {
    pub change: KvChange,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_cloudflare() {
        assert!(check_key("a").is_ok());
        assert!(check_key(&"x".repeat(512)).is_ok());
        let long = check_key(&"x".repeat(513)).expect_err("too long");
        assert_eq!(
            long.for_method("GET"),
            "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
        );
        // Bytes, not characters: 171 three-byte characters are 513 bytes.
        assert_eq!(check_key(&"€".repeat(171)).expect_err("long").status, 414);
        assert_eq!(check_key("").expect_err("empty").status, 400);
        assert_eq!(check_key("..").expect_err("dots").status, 400);
    }

    #[test]
    fn values_and_metadata_have_limits() {
        assert!(check_value_size(MAX_VALUE_BYTES).is_ok());
        assert_eq!(
            check_value_size(MAX_VALUE_BYTES + 1)
                .expect_err("too big")
                .for_method("PUT"),
            "KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400."
        );
        let fits = format!("\"{}\"", "m".repeat(1022));
        assert!(check_metadata(&fits).is_ok());
        let over = format!("\"{}\"", "m".repeat(1023));
        assert_eq!(check_metadata(&over).expect_err("1025 bytes").status, 413);
        assert_eq!(check_metadata("{").expect_err("not JSON").status, 400);
    }

    #[test]
    fn expirations_are_sixty_seconds_ahead_at_least() {
        assert_eq!(expiration_at(1000, None, None), Ok(None));
        assert_eq!(expiration_at(1000, None, Some(60.0)), Ok(Some(1060)));
        assert_eq!(expiration_at(1000, Some(1060.0), None), Ok(Some(1060)));
        assert_eq!(
            expiration_at(1000, Some(1059.0), None)
                .expect_err("too soon")
                .message,
            "Invalid expiration of 1059. Expiration times must be at least 60 seconds in the \
             future."
        );
        assert_eq!(
            expiration_at(1000, None, Some(59.0))
                .expect_err("too short")
                .message,
            "Invalid expiration_ttl of 59. Expiration TTL must be at least 60."
        );
        assert!(expiration_at(1000, None, Some(f64::NAN)).is_err());
    }

    #[test]
    fn list_limits_and_cursors() {
        assert_eq!(check_list_limit(None), Ok(1000));
        assert_eq!(check_list_limit(Some(1.0)), Ok(1));
        assert!(check_list_limit(Some(0.0)).is_err());
        assert!(check_list_limit(Some(1001.0)).is_err());
        let cursor = encode_cursor("a/€\n");
        assert!(cursor.is_ascii());
        assert_eq!(decode_cursor(&cursor).as_deref(), Some("a/€\n"));
        assert_eq!(decode_cursor("zz"), None);
        assert!(check_cache_ttl(30.0).is_ok());
        assert!(check_cache_ttl(29.0).is_err());
    }
}
