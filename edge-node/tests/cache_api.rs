//! The Cache API (`caches.default`, `caches.open`) through a real node: what `put` stores and
//! refuses, expiry, conditional matches, tenant separation and the counters on `/metrics`.

mod common;

use std::time::Duration;

use common::{TestNode, script_dir, start, start_with};

/// A worker that drives its cache from the query string: `/put`, `/match`, `/delete` on the
/// key `https://cache.test/KEY` in `caches.default` (or `caches.open(name)`), with the
/// response's status, headers (JSON) and body (or `repeat` x's), the request's method and
/// headers (JSON).
const CACHER: &str = r#"
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const q = (name, fallback) => url.searchParams.get(name) ?? fallback;
    const key = "https://cache.test/" + q("key", "k");
    const cache = url.searchParams.has("name") ? await caches.open(q("name")) : caches.default;
    const headers = JSON.parse(q("headers", "{}"));
    try {
      switch (url.pathname) {
        case "/put": {
          const text = url.searchParams.has("repeat") ? "x".repeat(Number(q("repeat"))) : q("body", "cached body");
          const response = new Response(text, {
            status: Number(q("status", "200")),
            headers,
          });
          await cache.put(new Request(key, { method: q("method", "GET") }), response);
          return new Response(`put, body used: ${response.bodyUsed}`);
        }
        case "/match": {
          const found = await cache.match(new Request(key, { method: q("method", "GET"), headers }), {
            ignoreMethod: url.searchParams.has("ignoreMethod"),
          });
          return found ?? new Response("miss", { status: 404 });
        }
        case "/delete":
          return new Response(String(await cache.delete(key)));
        case "/probe": {
          const checks = {};
          const attempt = (name, f) => {
            try { checks[name] = f(); } catch (e) { checks[name] = `${e.name}: ${e.message}`; }
          };
          attempt("same default", () => caches.default === caches.default);
          attempt("new Cache", () => new Cache());
          attempt("new CacheStorage", () => new CacheStorage());
          attempt("opened is a Cache", () => cache instanceof Cache);
          attempt("keys", () => caches.default.keys());
          checks["open long name"] = await caches.open("x".repeat(1024)).then(() => "opened", (e) => `${e.name}: ${e.message}`);
          checks["string key"] = await caches.default.put("https://cache.test/s", new Response("s"))
            .then(() => caches.default.match("https://cache.test/s#fragment"))
            .then((r) => r.text());
          return Response.json(checks);
        }
      }
      return new Response("unknown route", { status: 400 });
    } catch (e) {
      return new Response(`${e.name}: ${e.message}`, { status: 500 });
    }
  },
};
"#;

/// `path?pairs` on `script`: the status, a few header fields and the body.
async fn call(node: &TestNode, script: &str, path: &str, pairs: &[(&str, &str)]) -> Answer {
    let res = node
        .client(&[script])
        .get(node.url(script, path))
        .query(pairs)
        .send()
        .await
        .expect("request");
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_string())
    };
    let (etag, cache_status, cookie) = (
        header("etag"),
        header("cf-cache-status"),
        header("set-cookie"),
    );
    Answer {
        status: res.status().as_u16(),
        etag,
        cache_status,
        cookie,
        body: res.text().await.expect("body"),
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    etag: Option<String>,
    cache_status: Option<String>,
    cookie: Option<String>,
    body: String,
}

async fn put(node: &TestNode, script: &str, pairs: &[(&str, &str)]) -> Answer {
    call(node, script, "/put", pairs).await
}

async fn matched(node: &TestNode, script: &str, pairs: &[(&str, &str)]) -> Answer {
    call(node, script, "/match", pairs).await
}

#[tokio::test]
async fn put_then_match_returns_the_stored_response() {
    let node = start(&[("cacher", CACHER)]).await;
    assert_eq!(matched(&node, "cacher", &[("key", "a")]).await.status, 404);
    let stored = put(
        &node,
        "cacher",
        &[
            ("key", "a"),
            ("body", "hello from the cache"),
            ("status", "203"),
            (
                "headers",
                r#"{"cache-control": "max-age=60", "x-kind": "test"}"#,
            ),
        ],
    )
    .await;
    assert_eq!(stored.body, "put, body used: true", "put consumes the body");
    let hit = matched(&node, "cacher", &[("key", "a")]).await;
    assert_eq!(
        (hit.status, hit.body.as_str()),
        (203, "hello from the cache")
    );
    assert_eq!(hit.cache_status.as_deref(), Some("HIT"));
    // Another key, and the same key in a named cache, miss.
    assert_eq!(matched(&node, "cacher", &[("key", "b")]).await.status, 404);
    assert_eq!(
        matched(&node, "cacher", &[("key", "a"), ("name", "other")])
            .await
            .status,
        404
    );
    // Only GET matches, unless the method is ignored.
    assert_eq!(
        matched(&node, "cacher", &[("key", "a"), ("method", "POST")])
            .await
            .status,
        404
    );
    let ignored = matched(
        &node,
        "cacher",
        &[("key", "a"), ("method", "POST"), ("ignoreMethod", "")],
    )
    .await;
    assert_eq!(ignored.status, 203);
    // delete says whether there was an entry.
    assert_eq!(
        call(&node, "cacher", "/delete", &[("key", "a")]).await.body,
        "true"
    );
    assert_eq!(
        call(&node, "cacher", "/delete", &[("key", "a")]).await.body,
        "false"
    );
    assert_eq!(matched(&node, "cacher", &[("key", "a")]).await.status, 404);
}

#[tokio::test]
async fn named_caches_are_their_own() {
    let node = start(&[("cacher", CACHER)]).await;
    put(
        &node,
        "cacher",
        &[("key", "n"), ("name", "images"), ("body", "in images")],
    )
    .await;
    assert_eq!(
        matched(&node, "cacher", &[("key", "n"), ("name", "images")])
            .await
            .body,
        "in images"
    );
    assert_eq!(matched(&node, "cacher", &[("key", "n")]).await.status, 404);
}

#[tokio::test]
async fn an_entry_expires_after_its_max_age() {
    let node = start(&[("cacher", CACHER)]).await;
    put(
        &node,
        "cacher",
        &[
            ("key", "e"),
            ("headers", r#"{"cache-control": "public, max-age=2"}"#),
        ],
    )
    .await;
    let put_at = tokio::time::Instant::now();
    assert_eq!(matched(&node, "cacher", &[("key", "e")]).await.status, 200);
    // Fresh for two seconds, then a miss: polled with a deadline.
    let deadline = put_at + Duration::from_secs(10);
    loop {
        let status = matched(&node, "cacher", &[("key", "e")]).await.status;
        if status == 404 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the entry never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        put_at.elapsed() >= Duration::from_millis(1900),
        "expired after {:?}",
        put_at.elapsed()
    );
}

#[tokio::test]
async fn what_the_headers_keep_out_is_not_stored() {
    let node = start(&[("cacher", CACHER)]).await;
    let not_stored = [
        ("no-store", r#"{"cache-control": "no-store"}"#),
        ("private", r#"{"cache-control": "private, max-age=60"}"#),
        ("no-cache", r#"{"cache-control": "no-cache"}"#),
        ("max-age 0", r#"{"cache-control": "max-age=0"}"#),
        ("expired", r#"{"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}"#),
        (
            "set-cookie",
            r#"{"set-cookie": "session=1", "cache-control": "max-age=60"}"#,
        ),
    ];
    for (key, headers) in not_stored {
        let answer = put(&node, "cacher", &[("key", key), ("headers", headers)]).await;
        assert_eq!(answer.status, 200, "{key}: {}", answer.body);
        assert_eq!(
            matched(&node, "cacher", &[("key", key)]).await.status,
            404,
            "{key}"
        );
    }
    // A 500 without freshness is not cached by default; with s-maxage it is.
    put(&node, "cacher", &[("key", "500"), ("status", "500")]).await;
    assert_eq!(
        matched(&node, "cacher", &[("key", "500")]).await.status,
        404
    );
    put(
        &node,
        "cacher",
        &[
            ("key", "500s"),
            ("status", "500"),
            ("headers", r#"{"cache-control": "s-maxage=60"}"#),
        ],
    )
    .await;
    assert_eq!(
        matched(&node, "cacher", &[("key", "500s")]).await.status,
        500
    );
    // private=Set-Cookie stores the response without the cookie.
    put(
        &node,
        "cacher",
        &[
            ("key", "cookie"),
            (
                "headers",
                r#"{"set-cookie": "session=1", "cache-control": "max-age=60, private=Set-Cookie"}"#,
            ),
        ],
    )
    .await;
    let hit = matched(&node, "cacher", &[("key", "cookie")]).await;
    assert_eq!((hit.status, hit.cookie), (200, None));
}

#[tokio::test]
async fn conditional_matches_answer_304() {
    let node = start(&[("cacher", CACHER)]).await;
    let modified = "Wed, 21 Oct 2015 07:28:00 GMT";
    let headers = format!(
        r#"{{"cache-control": "max-age=600", "etag": "\"v1\"", "last-modified": "{modified}"}}"#
    );
    put(&node, "cacher", &[("key", "c"), ("headers", &headers)]).await;
    let cases = [
        (r#"{"if-none-match": "\"v1\""}"#, 304),
        (r#"{"if-none-match": "W/\"v1\""}"#, 304),
        (r#"{"if-none-match": "\"v0\", \"v1\""}"#, 304),
        (r#"{"if-none-match": "\"v2\""}"#, 200),
        (
            r#"{"if-modified-since": "Wed, 21 Oct 2015 07:28:00 GMT"}"#,
            304,
        ),
        (
            r#"{"if-modified-since": "Thu, 22 Oct 2015 07:28:00 GMT"}"#,
            304,
        ),
        (
            r#"{"if-modified-since": "Tue, 20 Oct 2015 07:28:00 GMT"}"#,
            200,
        ),
        // If-None-Match decides when present.
        (
            r#"{"if-none-match": "\"v2\"", "if-modified-since": "Thu, 22 Oct 2015 07:28:00 GMT"}"#,
            200,
        ),
    ];
    for (conditions, status) in cases {
        let answer = matched(&node, "cacher", &[("key", "c"), ("headers", conditions)]).await;
        assert_eq!(answer.status, status, "{conditions}");
        assert_eq!(answer.etag.as_deref(), Some("\"v1\""), "{conditions}");
        let body = if status == 304 { "" } else { "cached body" };
        assert_eq!(answer.body, body, "{conditions}");
    }
}

#[tokio::test]
async fn scripts_never_see_each_others_entries() {
    let node = start(&[("alpha", CACHER), ("beta", CACHER)]).await;
    put(&node, "alpha", &[("key", "shared"), ("body", "alpha's")]).await;
    assert_eq!(
        matched(&node, "beta", &[("key", "shared")]).await.status,
        404
    );
    assert_eq!(
        matched(&node, "beta", &[("key", "shared"), ("name", "x")])
            .await
            .status,
        404
    );
    assert_eq!(
        call(&node, "beta", "/delete", &[("key", "shared")])
            .await
            .body,
        "false"
    );
    put(&node, "beta", &[("key", "shared"), ("body", "beta's")]).await;
    assert_eq!(
        matched(&node, "alpha", &[("key", "shared")]).await.body,
        "alpha's"
    );
    assert_eq!(
        matched(&node, "beta", &[("key", "shared")]).await.body,
        "beta's"
    );
}

#[tokio::test]
async fn refused_puts_throw_type_errors_and_store_nothing() {
    let node = start(&[("cacher", CACHER)]).await;
    let refused = [
        (
            vec![("status", "206")],
            "TypeError: Cannot cache response to a range request (206 Partial Content).",
        ),
        (
            vec![("headers", r#"{"vary": "*"}"#)],
            "TypeError: Cannot cache response with 'Vary: *' header.",
        ),
        (
            vec![("headers", r#"{"vary": "Accept, *"}"#)],
            "TypeError: Cannot cache response with 'Vary: *' header.",
        ),
        (
            vec![("method", "POST")],
            "TypeError: Cannot cache response to non-GET request.",
        ),
    ];
    for (extra, message) in refused {
        let mut pairs = vec![("key", "r")];
        pairs.extend(extra);
        let answer = put(&node, "cacher", &pairs).await;
        assert_eq!((answer.status, answer.body.as_str()), (500, message));
        let found = matched(&node, "cacher", &[("key", "r"), ("ignoreMethod", "")]).await;
        assert_eq!(found.status, 404, "{message}");
    }
}

#[tokio::test]
async fn the_classes_cannot_be_built_by_tenants() {
    let node = start(&[("cacher", CACHER)]).await;
    let answer = call(&node, "cacher", "/probe", &[("name", "opened")]).await;
    let checks: serde_json::Value = serde_json::from_str(&answer.body).expect(&answer.body);
    assert_eq!(checks["same default"], true);
    assert_eq!(checks["new Cache"], "TypeError: Illegal constructor");
    assert_eq!(checks["new CacheStorage"], "TypeError: Illegal constructor");
    assert_eq!(checks["opened is a Cache"], true);
    assert_eq!(
        checks["keys"],
        "Error: Failed to execute 'keys' on 'Cache': the method is not implemented."
    );
    assert_eq!(
        checks["open long name"],
        "TypeError: Cache name is too long."
    );
    assert_eq!(checks["string key"], "s");
}

/// The value of the sample named exactly `name` on the admin `/metrics` page.
async fn metric(node: &TestNode, name: &str) -> u64 {
    let admin = node.node.admin_addr().expect("admin listener");
    let page = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
}

#[tokio::test]
async fn metrics_count_hits_misses_and_stores() {
    let node = start_with(script_dir(&[("cacher", CACHER)]), |config| {
        config.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
        config.response_cache_bytes = 1024 * 1024;
    })
    .await;
    assert_eq!(
        metric(&node, "skiff_cache_api_budget_bytes").await,
        1024 * 1024
    );
    matched(&node, "cacher", &[("key", "m")]).await;
    put(&node, "cacher", &[("key", "m")]).await;
    put(
        &node,
        "cacher",
        &[
            ("key", "n"),
            ("headers", r#"{"cache-control": "no-store"}"#),
        ],
    )
    .await;
    matched(&node, "cacher", &[("key", "m")]).await;
    matched(&node, "cacher", &[("key", "m")]).await;
    // Larger than an eighth of the budget: not stored.
    put(&node, "cacher", &[("key", "big"), ("repeat", "200000")]).await;
    assert_eq!(
        matched(&node, "cacher", &[("key", "big")]).await.status,
        404
    );
    assert_eq!(metric(&node, "skiff_cache_api_hits_total").await, 2);
    assert_eq!(metric(&node, "skiff_cache_api_misses_total").await, 2);
    assert_eq!(metric(&node, "skiff_cache_api_stores_total").await, 1);
    assert_eq!(metric(&node, "skiff_cache_api_not_stored_total").await, 2);
    assert_eq!(metric(&node, "skiff_cache_api_entries").await, 1);
    assert_eq!(
        node.node.response_cache().counts().hits,
        2,
        "the node's handle sees the same store"
    );
}
