//! The outbound `fetch()` policy: which addresses tenant code may reach, and how often.
//!
//! Tenant `fetch()` goes through deno_fetch. Unless the node was started with an explicit
//! allowance, three checks keep it away from the host's own neighbourhood and from every
//! address that is not public unicast (loopback, private, link-local, shared-address (CGN),
//! benchmarking, documentation, multicast, reserved, unique-local, and the IPv6 forms that
//! carry such an IPv4 address: IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo), all decided
//! by [`is_host_local`]:
//!
//! 1. deno's `PermissionsContainer`, asked before every request and after every redirect,
//!    denies the IPv4 ranges, `[::1]`, `[::]` and `localhost` by name;
//! 2. a request hook refuses any other IP-literal URL in those ranges (deno's deny list cannot
//!    express IPv6 ranges);
//! 3. a DNS resolver refuses a name when any address it resolves to is host-local, so a public
//!    name pointing at 127.0.0.1 (or rebinding to it) reaches nothing. deno connects only to the
//!    addresses its resolver returned.
//!
//! The worker's own WebSockets (`new WebSocket(url)`, `fetch()` with `Upgrade: websocket`)
//! connect outside deno_fetch and keep the same rule themselves: IP literals by
//! [`is_host_local`], names resolved once and refused as the resolver here refuses them (see
//! `websocket/outgoing.rs`).
//!
//! The count of subrequests and the loop guard (the `cf-ew-via` hop header) are kept by the
//! bootstrap's `fetch()` (and `new WebSocket()`) and by `op_skiff_next_event`; their constants
//! are here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use deno_error::JsErrorBox;
use deno_fetch::dns::{Resolve, Resolver, Resolving};
use deno_permissions::{
    Permissions, PermissionsContainer, PermissionsOptions, RuntimePermissionDescriptorParser,
};
use hyper_util::client::legacy::connect::dns::Name;

/// The default cap on subrequests per incoming request (Cloudflare's free-plan figure). Fetches
/// made outside any request (from timers or message ports set up by the script's top level)
/// share one budget of the same size for the isolate's whole life.
pub const DEFAULT_SUBREQUESTS: u32 = 50;

/// The header that carries how many more worker invocations a chain of requests may make, as
/// Cloudflare's loop detection does: a request without it may start [`MAX_INVOCATION_DEPTH`];
/// each subrequest a worker makes carries one fewer than its own request had; a request that
/// arrives with 0 left is refused (508, "error code: 1019") before any tenant code runs.
pub const HOPS_HEADER: &str = "cf-ew-via";

/// How many invocations one chain of worker requests may make (Cloudflare's loop limit: a
/// worker cannot call itself or another worker more than 16 times).
pub const MAX_INVOCATION_DEPTH: u32 = 16;

/// Host-local destinations as deno's net deny list spells them (IPv4 ranges and single IPv6
/// addresses; IPv4-mapped IPv6 forms are matched by deno itself). The complete rule, IPv6
/// ranges and IPv4 addresses embedded in IPv6 ones included, is [`is_host_local`], applied by
/// the request hook and the resolver.
const DENY_NET: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "[::1]",
    "[::]",
    "localhost",
];

/// What tenant `fetch()` may do.
#[derive(Clone, Debug)]
pub struct OutboundPolicy {
    /// Let tenant code reach loopback and private addresses (for tests and local development).
    pub allow_private: bool,
    /// Subrequests allowed per incoming request.
    pub subrequests: u32,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self {
            allow_private: false,
            subrequests: DEFAULT_SUBREQUESTS,
        }
    }
}

/// True for addresses that are not a public unicast destination on the internet: the host's
/// own, its private network's, and the special-purpose ranges of the IANA registries. An IPv6
/// address that carries an IPv4 one (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64,
/// 6to4) is judged by the IPv4 address it carries.
pub fn is_host_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_host_local_v4(v4),
        IpAddr::V6(v6) => is_host_local_v6(v6),
    }
}

fn is_host_local_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // 0.0.0.0/8 "this network"
        || a == 10 // 10.0.0.0/8 private
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10 shared address space (CGN)
        || a == 127 // 127.0.0.0/8 loopback
        || (a == 169 && b == 254) // 169.254.0.0/16 link local (cloud metadata)
        || (a == 172 && (16..32).contains(&b)) // 172.16.0.0/12 private
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // 192.0.2.0/24 documentation (TEST-NET-1)
        || (a == 192 && b == 88 && c == 99) // 192.88.99.0/24 6to4 relay anycast
        || (a == 192 && b == 168) // 192.168.0.0/16 private
        || (a == 198 && (18..20).contains(&b)) // 198.18.0.0/15 benchmarking
        || (a == 198 && b == 51 && c == 100) // 198.51.100.0/24 documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113) // 203.0.113.0/24 documentation (TEST-NET-3)
        || a >= 224 // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved, 255.255.255.255 broadcast
}

fn is_host_local_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        is_host_local_v4(Ipv4Addr::new(a, b, c, d))
    };
    match s {
        // ::/96 IPv4-compatible (deprecated), including :: and ::1, which carry 0.0.0.0/8.
        [0, 0, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // ::ffff:0:0/96 IPv4-mapped.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => embedded(hi, lo),
        // ::ffff:0:0:0/96 IPv4-translated (SIIT).
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => embedded(hi, lo),
        // 64:ff9b::/96 NAT64, well-known prefix: the gateway connects to the IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // 64:ff9b:1::/48 NAT64 for local use: its embedding is the local network's own.
        [0x64, 0xff9b, 1, ..] => true,
        // 2002::/16 6to4: the IPv4 address of the tunnel's end follows the prefix.
        [0x2002, hi, lo, ..] => embedded(hi, lo),
        // 2001::/32 Teredo (tunnels to an IPv4 host); 2001:db8::/32 documentation.
        [0x2001, 0, ..] | [0x2001, 0xdb8, ..] => true,
        // 100::/64 discard-only.
        [0x100, 0, 0, 0, ..] => true,
        // 3fff::/20 documentation.
        [0x3fff, second, ..] if second < 0x1000 => true,
        [first, ..] => {
            (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (first & 0xffc0) == 0xfe80 // fe80::/10 link local
                || (first & 0xffc0) == 0xfec0 // fec0::/10 site local (deprecated)
                || (first & 0xff00) == 0xff00 // ff00::/8 multicast
        }
    }
}

pub(crate) fn permissions(policy: &OutboundPolicy) -> PermissionsContainer {
    let parser = RuntimePermissionDescriptorParser::new(sys_traits::impls::RealSys);
    let perms = net_permissions(&parser, policy).unwrap_or_else(|err| {
        tracing::error!(%err, "outbound policy did not parse; denying all outbound fetch");
        Permissions::none_without_prompt()
    });
    PermissionsContainer::new(Arc::new(parser), perms)
}

fn net_permissions(
    parser: &RuntimePermissionDescriptorParser<sys_traits::impls::RealSys>,
    policy: &OutboundPolicy,
) -> Result<Permissions, deno_permissions::PermissionsFromOptionsError> {
    let deny_net = if policy.allow_private {
        None
    } else {
        Some(DENY_NET.iter().map(|s| s.to_string()).collect())
    };
    let options = PermissionsOptions {
        allow_net: Some(vec![]),
        deny_net,
        prompt: false,
        ..Default::default()
    };
    // The list is constant; the tests below check that it parses.
    Permissions::from_options(parser, &options)
}

pub(crate) fn fetch_options(policy: &OutboundPolicy) -> deno_fetch::Options {
    let mut options = deno_fetch::Options {
        user_agent: concat!("Skiff/", env!("CARGO_PKG_VERSION")).to_string(),
        ..Default::default()
    };
    if !policy.allow_private {
        options.request_builder_hook = Some(refuse_host_local_literal);
        options.resolver = Resolver::custom(Arc::new(PublicOnlyResolver));
    }
    options
}

fn refuse_host_local_literal<B>(request: &mut http::Request<B>) -> Result<(), JsErrorBox> {
    let host = request.uri().host().unwrap_or_default();
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<IpAddr>() {
        Ok(ip) if is_host_local(ip) => Err(refused("fetch()", host)),
        _ => Ok(()),
    }
}

/// The refusal of a connection to `host` that the policy forbids; `caller` is what asked for
/// it (`fetch()`, `new WebSocket()`).
pub(crate) fn refused(caller: &str, host: &str) -> JsErrorBox {
    JsErrorBox::type_error(format!(
        "{caller} to {host} refused: workers cannot reach loopback, private or link-local addresses"
    ))
}

/// Resolves with the system resolver and refuses names that lead to host-local addresses.
#[derive(Debug)]
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.iter().any(|a| is_host_local(a.ip())) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    refused("fetch()", &host).to_string(),
                ));
            }
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &OutboundPolicy, url: &str) -> bool {
        let mut perms = permissions(policy);
        let url = deno_core::url::Url::parse(url).expect("test url");
        perms.check_net_url(&url, "fetch()").is_ok()
    }

    #[test]
    fn host_networks_parse() {
        let parser = RuntimePermissionDescriptorParser::new(sys_traits::impls::RealSys);
        if let Err(err) = net_permissions(&parser, &OutboundPolicy::default()) {
            panic!("{err}");
        }
    }

    #[test]
    fn host_networks_are_denied() {
        let policy = OutboundPolicy::default();
        for url in [
            "http://127.0.0.1/",
            "http://127.8.9.1:8080/",
            "http://[::1]/",
            "http://10.1.2.3/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/",
            "http://localhost:1234/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::]/",
        ] {
            assert!(!check(&policy, url), "{url} should be refused");
        }
        assert!(check(&policy, "https://example.com/"));
        assert!(check(&policy, "http://93.184.216.34/"));
    }

    #[test]
    fn host_local_ranges() {
        for ip in [
            "127.0.0.1",
            "10.9.8.7",
            "172.31.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.1.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_host_local(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "172.32.0.1",
        ] {
            assert!(!is_host_local(ip.parse().expect("ip")), "{ip}");
        }
    }

    /// Each special-purpose range: its first and last address are refused, and the addresses
    /// just outside it are not.
    #[test]
    fn range_boundaries() {
        let ranges: &[(&str, &str, &[&str])] = &[
            ("0.0.0.0", "0.255.255.255", &["1.0.0.0"]),
            ("10.0.0.0", "10.255.255.255", &["9.255.255.255", "11.0.0.0"]),
            (
                "100.64.0.0",
                "100.127.255.255",
                &["100.63.255.255", "100.128.0.0"],
            ),
            (
                "127.0.0.0",
                "127.255.255.255",
                &["126.255.255.255", "128.0.0.0"],
            ),
            (
                "169.254.0.0",
                "169.254.255.255",
                &["169.253.255.255", "169.255.0.0"],
            ),
            (
                "172.16.0.0",
                "172.31.255.255",
                &["172.15.255.255", "172.32.0.0"],
            ),
            (
                "192.0.0.0",
                "192.0.0.255",
                &["191.255.255.255", "192.0.1.0"],
            ),
            ("192.0.2.0", "192.0.2.255", &["192.0.1.255", "192.0.3.0"]),
            (
                "192.88.99.0",
                "192.88.99.255",
                &["192.88.98.255", "192.88.100.0"],
            ),
            (
                "192.168.0.0",
                "192.168.255.255",
                &["192.167.255.255", "192.169.0.0"],
            ),
            (
                "198.18.0.0",
                "198.19.255.255",
                &["198.17.255.255", "198.20.0.0"],
            ),
            (
                "198.51.100.0",
                "198.51.100.255",
                &["198.51.99.255", "198.51.101.0"],
            ),
            (
                "203.0.113.0",
                "203.0.113.255",
                &["203.0.112.255", "203.0.114.0"],
            ),
            ("224.0.0.0", "239.255.255.255", &["223.255.255.255"]),
            ("240.0.0.0", "255.255.255.255", &[]),
            // IPv4-compatible: judged by the embedded address (:: and ::1 are 0.0.0.0/8).
            ("::", "::0.255.255.255", &["::1.0.0.0", "::8.8.8.8"]),
            ("::127.0.0.1", "::10.255.255.255", &["::1:0:0"]),
            // IPv4-mapped and IPv4-translated.
            (
                "::ffff:127.0.0.1",
                "::ffff:169.254.169.254",
                &["::ffff:8.8.8.8", "::fffe:0:0"],
            ),
            (
                "::ffff:0:10.0.0.1",
                "::ffff:0:192.168.1.1",
                &["::ffff:0:8.8.8.8"],
            ),
            // NAT64, well-known prefix: judged by the embedded address.
            (
                "64:ff9b::127.0.0.1",
                "64:ff9b::a9fe:a9fe",
                &["64:ff9b::8.8.8.8", "64:ff9a:ffff::10.0.0.1"],
            ),
            // NAT64 for local use: the whole /48.
            (
                "64:ff9b:1::",
                "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
                &["64:ff9b:2::8.8.8.8"],
            ),
            // 6to4: judged by the embedded address.
            (
                "2002:7f00:1::",
                "2002:a00:1:ffff::",
                &["2002:808:808::", "2003::"],
            ),
            ("2002:c0a8:101::1", "2002:a9fe:a9fe::", &["2001:ffff::"]),
            // Teredo and documentation.
            (
                "2001::",
                "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
                &["2001:1::", "2000:ffff:ffff:ffff::"],
            ),
            (
                "2001:db8::",
                "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
                &["2001:db7:ffff::", "2001:db9::"],
            ),
            (
                "3fff::",
                "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
                &["3ffe:ffff::", "3fff:1000::"],
            ),
            (
                "100::",
                "100::ffff:ffff:ffff:ffff",
                &["100:0:0:1::", "ff::"],
            ),
            (
                "fc00::",
                "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                &["fbff::", "fe00::"],
            ),
            (
                "fe80::",
                "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                &["fe7f::"],
            ),
            ("fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &[]),
            ("ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &[]),
        ];
        for (first, last, outside) in ranges {
            for ip in [first, last] {
                assert!(
                    is_host_local(ip.parse().expect(ip)),
                    "{ip} should be refused"
                );
            }
            for ip in *outside {
                assert!(
                    !is_host_local(ip.parse().expect(ip)),
                    "{ip} should be allowed"
                );
            }
        }
    }

    #[test]
    fn literal_hook_refuses_ipv6_ranges() {
        for uri in [
            "http://[fd00::1]/",
            "http://[fe80::1]:8080/x",
            "http://10.0.0.1/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[::127.0.0.1]/",
            "http://[2001::1]/",
            "http://[ff02::1]/",
            "http://100.100.100.100/",
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://224.0.0.1/",
        ] {
            let mut request = http::Request::builder().uri(uri).body(()).expect("request");
            assert!(refuse_host_local_literal(&mut request).is_err(), "{uri}");
        }
        let mut request = http::Request::builder()
            .uri("https://example.com/")
            .body(())
            .expect("request");
        assert!(refuse_host_local_literal(&mut request).is_ok());
    }

    #[tokio::test]
    async fn resolver_refuses_names_of_host_local_addresses() {
        let name: Name = "localhost".parse().expect("name");
        let result = PublicOnlyResolver.resolve(name).await;
        assert!(result.is_err());
    }

    #[test]
    fn resolved_addresses_are_checked() {
        let mut perms = permissions(&OutboundPolicy::default());
        let lo: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(perms.check_net_resolved(&lo, 80, "fetch()").is_err());
        let public: std::net::IpAddr = "93.184.216.34".parse().expect("ip");
        assert!(perms.check_net_resolved(&public, 80, "fetch()").is_ok());
    }

    #[test]
    fn allowance_opens_loopback() {
        let policy = OutboundPolicy {
            allow_private: true,
            ..Default::default()
        };
        assert!(check(&policy, "http://127.0.0.1:9/"));
    }
}
