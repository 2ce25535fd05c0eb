//! What the Cache API stores and for how long, read from a response's headers as Cloudflare's
//! cache reads them, and when a stored response answers a conditional request with a 304.
//!
//! Freshness comes from `Cache-Control: s-maxage` (which wins), then `max-age`, then
//! `Expires` (less `Date` when the response has one); a response with none of them gets
//! Cloudflare's default edge TTL for its status (`DEFAULT_TTLS`), and a status without one is
//! not stored. `no-store`, `no-cache` and `private` (without field names) keep a response
//! out, as does a `Set-Cookie` header that `private=` or `no-cache=` does not name: the
//! fields those two name are removed from what is stored instead.

use std::time::{Duration, SystemTime};

/// Cloudflare's default edge cache TTLs by status, for responses without `Cache-Control`
/// or `Expires` (its "Edge TTL" table); other statuses are not cached by default.
const DEFAULT_TTLS: [(u16, Duration); 7] = [
    (200, Duration::from_secs(120 * 60)),
    (206, Duration::from_secs(120 * 60)),
    (301, Duration::from_secs(120 * 60)),
    (302, Duration::from_secs(20 * 60)),
    (303, Duration::from_secs(20 * 60)),
    (404, Duration::from_secs(3 * 60)),
    (410, Duration::from_secs(3 * 60)),
];

/// The longest a response stays, whatever its headers say (Cloudflare's longest edge TTL).
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Why a response that `put` accepted was not stored. None of these is an error for the
/// tenant: `put` resolves as Cloudflare's does, and a later `match` misses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotStored {
    /// `Cache-Control: no-store`.
    NoStore,
    /// `Cache-Control: private` or `no-cache` without field names.
    Private,
    /// A `Set-Cookie` header that `private=Set-Cookie` does not allow to be dropped.
    SetCookie,
    /// Fresh for no time at all: `max-age=0`, an `Expires` in the past or unreadable.
    Stale,
    /// No freshness in the headers, and a status Cloudflare does not cache by default.
    Status,
    /// A 304, a 206, a non-GET request or `Vary: *`, which `put` refuses or drops before
    /// the store sees them.
    Refused,
    /// Larger than the store's largest entry.
    TooLarge,
}

/// What to store: for how long, and which header fields to leave out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storable {
    pub ttl: Duration,
    /// Lower-case names of the fields `private=` / `no-cache=` named.
    pub drop_fields: Vec<String>,
}

/// The directives of every `Cache-Control` field, lower-cased names, values unquoted.
fn directives(headers: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (_, value) in headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("cache-control"))
    {
        for item in split_outside_quotes(value) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (name, argument) = match item.split_once('=') {
                Some((name, argument)) => (name, Some(unquote(argument.trim()).to_string())),
                None => (item, None),
            };
            out.push((name.trim().to_ascii_lowercase(), argument));
        }
    }
    out
}

/// Splits at commas that are not inside a quoted string.
fn split_outside_quotes(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

fn header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Delta-seconds as RFC 9111 reads them: digits only; anything else is no freshness.
fn seconds(argument: Option<&str>) -> Duration {
    let digits = argument.unwrap_or("");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Duration::ZERO;
    }
    // Too many digits to parse is "a very long time", capped below.
    Duration::from_secs(digits.parse::<u64>().unwrap_or(u64::MAX)).min(MAX_TTL)
}

/// Whether (and how long) a response with `status` and `headers`, put at `now`, is stored.
pub fn storable(
    status: u16,
    headers: &[(&str, &str)],
    now: SystemTime,
) -> Result<Storable, NotStored> {
    if status == 304 || status == 206 {
        return Err(NotStored::Refused);
    }
    if headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("vary") && value.contains('*'))
    {
        return Err(NotStored::Refused);
    }
    let directives = directives(headers);
    let find = |wanted: &str| directives.iter().find(|(name, _)| name == wanted);
    if find("no-store").is_some() {
        return Err(NotStored::NoStore);
    }
    let mut drop_fields = Vec::new();
    for (name, argument) in &directives {
        if name != "private" && name != "no-cache" {
            continue;
        }
        match argument {
            None => return Err(NotStored::Private),
            Some(fields) => drop_fields.extend(
                fields
                    .split(',')
                    .map(|f| f.trim().to_ascii_lowercase())
                    .filter(|f| !f.is_empty()),
            ),
        }
    }
    let has_cookie = header(headers, "set-cookie").is_some();
    if has_cookie && !drop_fields.iter().any(|f| f == "set-cookie") {
        return Err(NotStored::SetCookie);
    }

    let ttl = if let Some((_, argument)) = find("s-maxage") {
        seconds(argument.as_deref())
    } else if let Some((_, argument)) = find("max-age") {
        seconds(argument.as_deref())
    } else if let Some(expires) = header(headers, "expires") {
        // An unreadable Expires means "already expired" (RFC 9111, 5.3).
        let base = header(headers, "date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .unwrap_or(now);
        httpdate::parse_http_date(expires)
            .ok()
            .and_then(|expires| expires.duration_since(base).ok())
            .unwrap_or(Duration::ZERO)
            .min(MAX_TTL)
    } else {
        match DEFAULT_TTLS.iter().find(|(s, _)| *s == status) {
            Some((_, ttl)) => *ttl,
            None => return Err(NotStored::Status),
        }
    };
    if ttl.is_zero() {
        return Err(NotStored::Stale);
    }
    Ok(Storable { ttl, drop_fields })
}

/// The conditional headers of a `match` request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
}

/// Whether a stored response with `etag` and `last_modified` answers `conditions` with a 304
/// (RFC 9110, 13.2.2: `If-None-Match`, compared weakly, decides when present; otherwise
/// `If-Modified-Since` at or after `Last-Modified`).
pub fn not_modified(
    conditions: &Conditions,
    etag: Option<&str>,
    last_modified: Option<&str>,
) -> bool {
    if let Some(wanted) = &conditions.if_none_match {
        let Some(etag) = etag else {
            return false;
        };
        let stored = opaque_tag(etag.trim());
        return split_outside_quotes(wanted).into_iter().any(|tag| {
            let tag = tag.trim();
            tag == "*" || opaque_tag(tag) == stored
        });
    }
    let (Some(since), Some(modified)) = (&conditions.if_modified_since, last_modified) else {
        return false;
    };
    match (
        httpdate::parse_http_date(since.trim()),
        httpdate::parse_http_date(modified.trim()),
    ) {
        (Ok(since), Ok(modified)) => since >= modified,
        _ => false,
    }
}

/// An entity tag without its weakness indicator, for the weak comparison.
fn opaque_tag(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    const NOW: u64 = 1_800_000_000;

    fn ttl(status: u16, headers: &[(&str, &str)]) -> Result<Duration, NotStored> {
        storable(status, headers, at(NOW)).map(|s| s.ttl)
    }

    #[test]
    fn s_maxage_wins_over_max_age_and_max_age_over_expires() {
        let expires = httpdate::fmt_http_date(at(NOW + 500));
        assert_eq!(
            ttl(
                200,
                &[
                    ("Cache-Control", "max-age=60, s-maxage=30"),
                    ("Expires", &expires)
                ]
            ),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            ttl(
                200,
                &[
                    ("cache-control", "public, MAX-AGE=60"),
                    ("expires", &expires)
                ]
            ),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(
            ttl(200, &[("expires", &expires)]),
            Ok(Duration::from_secs(500))
        );
    }

    #[test]
    fn expires_counts_from_date_when_present_and_bad_expires_is_stale() {
        let date = httpdate::fmt_http_date(at(NOW - 100));
        let expires = httpdate::fmt_http_date(at(NOW + 100));
        assert_eq!(
            ttl(200, &[("date", &date), ("expires", &expires)]),
            Ok(Duration::from_secs(200))
        );
        assert_eq!(ttl(200, &[("expires", "0")]), Err(NotStored::Stale));
        let past = httpdate::fmt_http_date(at(NOW - 1));
        assert_eq!(ttl(200, &[("expires", &past)]), Err(NotStored::Stale));
    }

    #[test]
    fn zero_or_malformed_max_age_is_not_stored() {
        assert_eq!(
            ttl(200, &[("cache-control", "max-age=0")]),
            Err(NotStored::Stale)
        );
        assert_eq!(
            ttl(200, &[("cache-control", "max-age=-5")]),
            Err(NotStored::Stale)
        );
        assert_eq!(
            ttl(200, &[("cache-control", "max-age=1")]),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            ttl(200, &[("cache-control", "max-age=99999999999999999999999")]),
            Ok(MAX_TTL)
        );
    }

    #[test]
    fn no_store_private_and_no_cache_are_not_stored() {
        let cc = |v| ttl(200, &[("cache-control", v)]);
        assert_eq!(cc("max-age=60, no-store"), Err(NotStored::NoStore));
        assert_eq!(cc("private, max-age=60"), Err(NotStored::Private));
        assert_eq!(cc("no-cache"), Err(NotStored::Private));
        // Field-named forms keep the response and name what to drop.
        let kept = storable(
            200,
            &[(
                "cache-control",
                "max-age=60, private=\"X-User, Set-Cookie\"",
            )],
            at(NOW),
        )
        .expect("stored");
        assert_eq!(kept.drop_fields, vec!["x-user", "set-cookie"]);
    }

    #[test]
    fn set_cookie_is_stored_only_when_it_may_be_dropped() {
        let cookie = ("set-cookie", "a=b");
        assert_eq!(
            ttl(200, &[cookie, ("cache-control", "max-age=60")]),
            Err(NotStored::SetCookie)
        );
        assert_eq!(
            ttl(
                200,
                &[cookie, ("cache-control", "max-age=60, private=Set-Cookie")]
            ),
            Ok(Duration::from_secs(60))
        );
    }

    #[test]
    fn default_ttls_follow_the_status() {
        assert_eq!(ttl(200, &[]), Ok(Duration::from_secs(7200)));
        assert_eq!(ttl(302, &[]), Ok(Duration::from_secs(1200)));
        assert_eq!(ttl(404, &[]), Ok(Duration::from_secs(180)));
        assert_eq!(ttl(500, &[]), Err(NotStored::Status));
        // Explicit freshness caches any status.
        assert_eq!(
            ttl(500, &[("cache-control", "s-maxage=5")]),
            Ok(Duration::from_secs(5))
        );
    }

    #[test]
    fn partial_not_modified_and_vary_star_are_refused() {
        assert_eq!(ttl(206, &[]), Err(NotStored::Refused));
        assert_eq!(ttl(304, &[]), Err(NotStored::Refused));
        assert_eq!(ttl(200, &[("Vary", "Accept, *")]), Err(NotStored::Refused));
        assert!(ttl(200, &[("Vary", "Accept-Encoding")]).is_ok());
    }

    #[test]
    fn if_none_match_compares_weakly_and_wins_over_if_modified_since() {
        let inm = |v: &str| Conditions {
            if_none_match: Some(v.into()),
            if_modified_since: None,
        };
        assert!(not_modified(&inm("\"v1\""), Some("\"v1\""), None));
        assert!(not_modified(&inm("W/\"v1\""), Some("\"v1\""), None));
        assert!(not_modified(
            &inm("\"v0\", W/\"v1\""),
            Some("W/\"v1\""),
            None
        ));
        assert!(not_modified(&inm("*"), Some("\"anything\""), None));
        assert!(!not_modified(&inm("\"v2\""), Some("\"v1\""), None));
        assert!(!not_modified(&inm("\"v1\""), None, None));
        let modified = httpdate::fmt_http_date(at(NOW));
        let both = Conditions {
            if_none_match: Some("\"v2\"".into()),
            if_modified_since: Some(httpdate::fmt_http_date(at(NOW + 10))),
        };
        assert!(!not_modified(&both, Some("\"v1\""), Some(&modified)));
    }

    #[test]
    fn if_modified_since_at_or_after_last_modified() {
        let modified = httpdate::fmt_http_date(at(NOW));
        let ims = |secs| Conditions {
            if_none_match: None,
            if_modified_since: Some(httpdate::fmt_http_date(at(secs))),
        };
        assert!(not_modified(&ims(NOW), None, Some(&modified)));
        assert!(not_modified(&ims(NOW + 1), None, Some(&modified)));
        assert!(!not_modified(&ims(NOW - 1), None, Some(&modified)));
        assert!(!not_modified(&ims(NOW), None, None));
        let garbage = Conditions {
            if_none_match: None,
            if_modified_since: Some("yesterday".into()),
        };
        assert!(!not_modified(&garbage, None, Some(&modified)));
    }
}
