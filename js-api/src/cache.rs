//! The Cache API's store (`caches.default`, `caches.open(name)`) and the ops behind
//! `js/08_cache.js`.
//!
//! One [`ResponseCache`] per node, in memory, as Cloudflare's cache is per data centre. An
//! entry's key is (script, cache name, URL without its fragment): the script comes from the
//! isolate's tenant configuration, never from JavaScript, so no script reaches another's
//! entries even for the same URL. The store is a moka cache bounded by a byte budget (each
//! entry weighs its body, its header fields and its key); an entry expires when its freshness
//! (see `policy`) runs out, and one larger than an eighth of the budget (or than Cloudflare's
//! 512 MB object limit) is not stored. `put`'s refusals that throw (non-GET, 206, `Vary: *`)
//! are checked by the JavaScript before the body is read; the store declines them too.

mod policy;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use deno_core::{OpState, ToJsBuffer, op2};
use deno_error::JsErrorBox;
use serde::Serialize;

pub use policy::{Conditions, NotStored};

/// The node-wide budget `skiff node` and `skiff dev` use unless told otherwise.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Cloudflare's largest cacheable object.
pub const MAX_OBJECT_BYTES: u64 = 512 * 1024 * 1024;

/// What each entry weighs beyond its bytes (the key's and the value's bookkeeping).
const ENTRY_OVERHEAD: u64 = 128;

/// Where an entry lives: whose it is, which cache (`None` is `caches.default`), which URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub script: String,
    pub cache: Option<String>,
    /// The request URL without its fragment.
    pub url: String,
}

impl CacheKey {
    pub fn new(script: &str, cache: Option<&str>, url: &str) -> Self {
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        Self {
            script: script.to_string(),
            cache: cache.map(str::to_string),
            url: url.to_string(),
        }
    }

    fn weight(&self) -> u64 {
        (self.script.len() + self.cache.as_ref().map_or(0, String::len) + self.url.len()) as u64
    }
}

/// A response as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedResponse {
    pub status: u16,
    pub status_text: String,
    /// Header fields in their order, names as given.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl CachedResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn weight(&self) -> u64 {
        let headers: usize = self.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        (self.body.len() + headers + self.status_text.len()) as u64
    }
}

#[derive(Debug)]
struct Entry {
    response: CachedResponse,
    /// When it stops matching (wall clock, as `Expires` and `Date` are).
    expires_at: SystemTime,
    /// How long moka keeps it (the same span, on moka's monotonic clock).
    ttl: Duration,
}

/// What `match` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing fresh under the key.
    Miss,
    /// The stored response.
    Hit(CachedResponse),
    /// The request's conditions hold for the stored response: a 304 with its header fields
    /// (less `Content-Length`) and no body.
    NotModified(CachedResponse),
}

/// What `put` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Stored,
    NotStored(NotStored),
}

/// The counts `/metrics` shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    pub stores: u64,
    pub not_stored: u64,
    pub deletes: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    stores: AtomicU64,
    not_stored: AtomicU64,
    deletes: AtomicU64,
}

struct Freshness;

impl moka::Expiry<CacheKey, Arc<Entry>> for Freshness {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        entry: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        entry: &Arc<Entry>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A node's Cache API store, shared by every isolate of the node.
pub struct ResponseCache {
    entries: moka::sync::Cache<CacheKey, Arc<Entry>>,
    budget: u64,
    max_entry: u64,
    counters: Counters,
}

impl Default for ResponseCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_BYTES)
    }
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("budget", &self.budget)
            .field("max_entry", &self.max_entry)
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    /// A store that holds at most `budget` bytes (bodies, header fields and keys).
    pub fn new(budget: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(budget)
            .weigher(|key: &CacheKey, entry: &Arc<Entry>| {
                let weight = key.weight() + entry.response.weight() + ENTRY_OVERHEAD;
                u32::try_from(weight).unwrap_or(u32::MAX)
            })
            .expire_after(Freshness)
            .build();
        Self {
            entries,
            budget,
            max_entry: (budget / 8).min(MAX_OBJECT_BYTES),
            counters: Counters::default(),
        }
    }

    /// The byte budget.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// The largest entry (body, header fields and key) the store takes.
    pub fn max_entry(&self) -> u64 {
        self.max_entry
    }

    /// Stores `response` under `key` if its headers allow it (see `policy`), replacing what
    /// was there; a response that is not stored also removes the key's old entry, as a new
    /// response under a key supersedes the old one.
    pub fn put(&self, key: CacheKey, mut response: CachedResponse, now: SystemTime) -> PutOutcome {
        let outcome = {
            let headers: Vec<(&str, &str)> = response
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            policy::storable(response.status, &headers, now)
        };
        let storable = match outcome {
            Ok(storable) => storable,
            Err(reason) => return self.not_stored(&key, reason),
        };
        response.headers.retain(|(name, _)| {
            !storable
                .drop_fields
                .iter()
                .any(|f| name.eq_ignore_ascii_case(f))
        });
        if key.weight() + response.weight() + ENTRY_OVERHEAD > self.max_entry {
            return self.not_stored(&key, NotStored::TooLarge);
        }
        let entry = Entry {
            response,
            expires_at: now + storable.ttl,
            ttl: storable.ttl,
        };
        self.entries.insert(key, Arc::new(entry));
        self.counters.stores.fetch_add(1, Ordering::Relaxed);
        PutOutcome::Stored
    }

    fn not_stored(&self, key: &CacheKey, reason: NotStored) -> PutOutcome {
        self.entries.invalidate(key);
        self.counters.not_stored.fetch_add(1, Ordering::Relaxed);
        PutOutcome::NotStored(reason)
    }

    /// The fresh response under `key`, or a 304 when `conditions` hold for it.
    pub fn lookup(&self, key: &CacheKey, conditions: &Conditions, now: SystemTime) -> Lookup {
        let found = self.entries.get(key).filter(|entry| now < entry.expires_at);
        let Some(entry) = found else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss;
        };
        self.counters.hits.fetch_add(1, Ordering::Relaxed);
        let response = &entry.response;
        if policy::not_modified(
            conditions,
            response.header("etag"),
            response.header("last-modified"),
        ) {
            let headers = response
                .headers
                .iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
                .cloned()
                .collect();
            return Lookup::NotModified(CachedResponse {
                status: 304,
                status_text: "Not Modified".into(),
                headers,
                body: Bytes::new(),
            });
        }
        Lookup::Hit(response.clone())
    }

    /// Removes the entry under `key`; whether there was a fresh one.
    pub fn delete(&self, key: &CacheKey, now: SystemTime) -> bool {
        let removed = self
            .entries
            .remove(key)
            .is_some_and(|entry| now < entry.expires_at);
        if removed {
            self.counters.deletes.fetch_add(1, Ordering::Relaxed);
        }
        removed
    }

    pub fn counts(&self) -> CacheCounts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CacheCounts {
            hits: load(&self.counters.hits),
            misses: load(&self.counters.misses),
            stores: load(&self.counters.stores),
            not_stored: load(&self.counters.not_stored),
            deletes: load(&self.counters.deletes),
        }
    }

    /// Entries held and their weight in bytes (after moka's pending evictions).
    pub fn usage(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }
}

/// The store and the script of the isolate's tenant.
fn tenant_cache(state: &OpState) -> Result<(Arc<ResponseCache>, String), JsErrorBox> {
    let Some((node, tenant)) = crate::ops::configured(state) else {
        return Err(JsErrorBox::generic(
            "The Cache API is not available outside a request handler's isolate",
        ));
    };
    Ok((node.bindings.cache.clone(), tenant.script.clone()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchedResponse {
    status: u16,
    status_text: String,
    headers: Vec<(String, String)>,
    body: Option<ToJsBuffer>,
}

/// `match`: the stored response under the tenant's `url` in cache `name` (`null` is the
/// default cache), a 304 for a request whose conditions hold, or `null`. The response
/// carries `CF-Cache-Status: HIT`, as Cloudflare's do.
#[op2]
#[serde]
pub fn op_skiff_cache_match(
    state: &mut OpState,
    #[string] name: Option<String>,
    #[string] url: String,
    #[string] if_none_match: Option<String>,
    #[string] if_modified_since: Option<String>,
) -> Result<Option<MatchedResponse>, JsErrorBox> {
    let (cache, script) = tenant_cache(state)?;
    let key = CacheKey::new(&script, name.as_deref(), &url);
    let conditions = Conditions {
        if_none_match,
        if_modified_since,
    };
    let (mut response, with_body) = match cache.lookup(&key, &conditions, SystemTime::now()) {
        Lookup::Miss => return Ok(None),
        Lookup::Hit(response) => (response, true),
        Lookup::NotModified(response) => (response, false),
    };
    response
        .headers
        .push(("cf-cache-status".into(), "HIT".into()));
    Ok(Some(MatchedResponse {
        status: response.status,
        status_text: response.status_text,
        headers: response.headers,
        body: with_body.then(|| response.body.to_vec().into()),
    }))
}

/// `put`, after the JavaScript checked the request and response and read the body: stores
/// the response if its headers allow; whether it was stored.
#[op2]
pub fn op_skiff_cache_put(
    state: &mut OpState,
    #[string] name: Option<String>,
    #[string] url: String,
    #[smi] status: u16,
    #[string] status_text: String,
    #[serde] headers: Vec<(String, String)>,
    #[buffer(copy)] body: Bytes,
) -> Result<bool, JsErrorBox> {
    let (cache, script) = tenant_cache(state)?;
    let key = CacheKey::new(&script, name.as_deref(), &url);
    let response = CachedResponse {
        status,
        status_text,
        headers,
        body,
    };
    Ok(cache.put(key, response, SystemTime::now()) == PutOutcome::Stored)
}

/// `delete`: whether a fresh entry was removed.
#[op2]
pub fn op_skiff_cache_delete(
    state: &mut OpState,
    #[string] name: Option<String>,
    #[string] url: String,
) -> Result<bool, JsErrorBox> {
    let (cache, script) = tenant_cache(state)?;
    let key = CacheKey::new(&script, name.as_deref(), &url);
    Ok(cache.delete(&key, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn response(headers: &[(&str, &str)], body: &str) -> CachedResponse {
        CachedResponse {
            status: 200,
            status_text: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    fn key(script: &str, url: &str) -> CacheKey {
        CacheKey::new(script, None, url)
    }

    #[test]
    fn a_stored_response_matches_until_it_expires() {
        let cache = ResponseCache::default();
        let stored = response(&[("cache-control", "max-age=10")], "hello");
        let k = key("a", "https://x.test/p");
        assert_eq!(
            cache.put(k.clone(), stored.clone(), at(NOW)),
            PutOutcome::Stored
        );
        let none = Conditions::default();
        assert_eq!(cache.lookup(&k, &none, at(NOW + 9)), Lookup::Hit(stored));
        assert_eq!(cache.lookup(&k, &none, at(NOW + 10)), Lookup::Miss);
        let counts = cache.counts();
        assert_eq!((counts.hits, counts.misses, counts.stores), (1, 1, 1));
    }

    #[test]
    fn keys_separate_scripts_caches_and_ignore_fragments() {
        let cache = ResponseCache::default();
        let none = Conditions::default();
        cache.put(
            key("a", "https://x.test/p#top"),
            response(&[], "a"),
            at(NOW),
        );
        assert!(matches!(
            cache.lookup(&key("a", "https://x.test/p"), &none, at(NOW)),
            Lookup::Hit(_)
        ));
        assert_eq!(
            cache.lookup(&key("b", "https://x.test/p"), &none, at(NOW)),
            Lookup::Miss
        );
        let named = CacheKey::new("a", Some("images"), "https://x.test/p");
        assert_eq!(cache.lookup(&named, &none, at(NOW)), Lookup::Miss);
    }

    #[test]
    fn a_response_that_is_not_stored_removes_the_old_entry() {
        let cache = ResponseCache::default();
        let k = key("a", "https://x.test/p");
        cache.put(k.clone(), response(&[], "old"), at(NOW));
        assert_eq!(
            cache.put(
                k.clone(),
                response(&[("cache-control", "no-store")], "new"),
                at(NOW)
            ),
            PutOutcome::NotStored(NotStored::NoStore)
        );
        assert_eq!(
            cache.lookup(&k, &Conditions::default(), at(NOW)),
            Lookup::Miss
        );
    }

    #[test]
    fn fields_named_by_private_are_dropped() {
        let cache = ResponseCache::default();
        let k = key("a", "https://x.test/p");
        let put = response(
            &[
                ("Set-Cookie", "session=1"),
                ("Cache-Control", "max-age=60, private=Set-Cookie"),
                ("Content-Type", "text/plain"),
            ],
            "x",
        );
        assert_eq!(cache.put(k.clone(), put, at(NOW)), PutOutcome::Stored);
        let Lookup::Hit(found) = cache.lookup(&k, &Conditions::default(), at(NOW)) else {
            panic!("expected a hit");
        };
        assert_eq!(found.header("set-cookie"), None);
        assert_eq!(found.header("content-type"), Some("text/plain"));
    }

    #[test]
    fn conditional_lookups_answer_304_without_a_body() {
        let cache = ResponseCache::default();
        let k = key("a", "https://x.test/p");
        cache.put(
            k.clone(),
            response(&[("etag", "\"v1\""), ("content-length", "5")], "hello"),
            at(NOW),
        );
        let conditions = Conditions {
            if_none_match: Some("W/\"v1\"".into()),
            if_modified_since: None,
        };
        let Lookup::NotModified(found) = cache.lookup(&k, &conditions, at(NOW)) else {
            panic!("expected a 304");
        };
        assert_eq!(found.status, 304);
        assert!(found.body.is_empty());
        assert_eq!(found.header("etag"), Some("\"v1\""));
        assert_eq!(found.header("content-length"), None);
    }

    #[test]
    fn entries_larger_than_an_eighth_of_the_budget_are_not_stored() {
        let cache = ResponseCache::new(8 * 1024);
        let k = key("a", "https://x.test/p");
        let big = "x".repeat(1024);
        assert_eq!(
            cache.put(k.clone(), response(&[], &big), at(NOW)),
            PutOutcome::NotStored(NotStored::TooLarge)
        );
        assert_eq!(
            cache.put(k, response(&[], "small"), at(NOW)),
            PutOutcome::Stored
        );
        assert_eq!(cache.counts().not_stored, 1);
    }

    #[test]
    fn the_budget_bounds_what_is_held() {
        let cache = ResponseCache::new(64 * 1024);
        let body = "x".repeat(4 * 1024);
        for i in 0..100 {
            cache.put(
                key("a", &format!("https://x.test/{i}")),
                response(&[], &body),
                at(NOW),
            );
        }
        let (entries, bytes) = cache.usage();
        assert!(bytes <= 64 * 1024, "{bytes} bytes held");
        assert!(entries > 0 && entries < 100, "{entries} entries held");
    }

    #[test]
    fn delete_says_whether_a_fresh_entry_was_there() {
        let cache = ResponseCache::default();
        let k = key("a", "https://x.test/p");
        cache.put(
            k.clone(),
            response(&[("cache-control", "max-age=5")], "x"),
            at(NOW),
        );
        assert!(!cache.delete(&key("b", "https://x.test/p"), at(NOW)));
        assert!(cache.delete(&k, at(NOW)));
        assert!(!cache.delete(&k, at(NOW)));
        cache.put(
            k.clone(),
            response(&[("cache-control", "max-age=5")], "x"),
            at(NOW),
        );
        assert!(!cache.delete(&k, at(NOW + 5)));
    }
}
