//! The outbound `fetch()` policy: which addresses tenant code may reach, and how often.
//!
//! Tenant `fetch()` goes through deno_fetch. Unless the node was started with an explicit
//! allowance, three checks keep it away from the host's own neighbourhood (loopback, private,
//! link-local, shared-address, unique-local and unspecified ranges), all decided by
//! [`is_host_local`]:
//!
//! 1. deno's `PermissionsContainer`, asked before every request and after every redirect,
//!    denies the IPv4 ranges, `[::1]`, `[::]` and `localhost` by name;
//! 2. a request hook refuses any other IP-literal URL in those ranges (deno's deny list cannot
//!    express IPv6 ranges);
//! 3. a DNS resolver refuses a name when any address it resolves to is host-local, so a public
//!    name pointing at 127.0.0.1 (or rebinding to it) reaches nothing. deno connects only to the
//!    addresses its resolver returned.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use deno_error::JsErrorBox;
use deno_fetch::dns::{Resolve, Resolver, Resolving};
use deno_permissions::{
    Permissions, PermissionsContainer, PermissionsOptions, RuntimePermissionDescriptorParser,
};
use hyper_util::client::legacy::connect::dns::Name;

/// The default cap on subrequests per incoming request (Cloudflare's free-plan figure).
pub const DEFAULT_SUBREQUESTS: u32 = 50;

/// Host-local destinations as deno's net deny list spells them (IPv4 ranges and single IPv6
/// addresses; IPv4-mapped IPv6 forms are matched by deno itself).
const DENY_NET: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
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

/// True for addresses that belong to the host or its private network rather than the internet.
pub fn is_host_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_host_local_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_host_local_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (first & 0xffc0) == 0xfe80 // fe80::/10 link local
                || (first & 0xffc0) == 0xfec0 // fec0::/10 site local (deprecated)
        }
    }
}

fn is_host_local_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10 shared address space
        || ip.is_broadcast()
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
        Ok(ip) if is_host_local(ip) => Err(refused(host)),
        _ => Ok(()),
    }
}

fn refused(host: &str) -> JsErrorBox {
    JsErrorBox::type_error(format!(
        "fetch() to {host} refused: workers cannot reach loopback, private or link-local addresses"
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
                    refused(&host).to_string(),
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

    #[test]
    fn literal_hook_refuses_ipv6_ranges() {
        for uri in [
            "http://[fd00::1]/",
            "http://[fe80::1]:8080/x",
            "http://10.0.0.1/",
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
