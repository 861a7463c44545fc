//! Which proxy a request goes through, decided from the environment as Go decides it
//! (`golang.org/x/net/http/httpproxy`, used by kubectl, the kubelet, containerd and
//! Docker), so that tagwarden reaches registries and API servers the way those tools do:
//!
//! - `HTTPS_PROXY` (else `https_proxy`) for `https://` URLs, `HTTP_PROXY` (else
//!   `http_proxy`) for `http://` ones; `ALL_PROXY` is not read (Go does not read it);
//! - a proxy written without a scheme is `http://`; `https://` and `socks5://` proxies are
//!   taken as written;
//! - `NO_PROXY` (else `no_proxy`): a comma-separated list of `*` (no proxy at all), IP
//!   addresses, CIDR ranges, and domains, each with an optional `:port`. `example.com`
//!   matches it and its subdomains; `.example.com` and `*.example.com` only subdomains;
//! - `localhost` and loopback IPs never go through a proxy from the environment.
//!
//! A proxy named explicitly (a kubeconfig's `proxy-url`) is not decided here: it always
//! applies, as with kubectl.

use std::net::IpAddr;

use url::Url;

/// The proxy settings of an environment; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct EnvProxy {
    http: Option<Url>,
    https: Option<Url>,
    no_proxy: Vec<NoProxyEntry>,
    no_proxy_at_all: bool,
}

#[derive(Debug, Clone)]
enum NoProxyEntry {
    Ip(IpAddr, Option<u16>),
    Cidr(IpAddr, u8),
    /// `.example.com`, and whether `example.com` itself matches too.
    Domain(String, Option<u16>, bool),
}

impl EnvProxy {
    /// This process's environment.
    pub fn from_env() -> EnvProxy {
        EnvProxy::from_vars(|name| std::env::var(name).ok())
    }

    /// The settings `get` gives for each variable name (tests, or another environment).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> EnvProxy {
        let first = |names: [&str; 2]| {
            names
                .into_iter()
                .find_map(|n| get(n).filter(|v| !v.trim().is_empty()))
        };
        let no_proxy = first(["NO_PROXY", "no_proxy"]).unwrap_or_default();
        let mut settings = EnvProxy {
            http: first(["HTTP_PROXY", "http_proxy"]).and_then(|p| parse_proxy(&p)),
            https: first(["HTTPS_PROXY", "https_proxy"]).and_then(|p| parse_proxy(&p)),
            ..EnvProxy::default()
        };
        for entry in no_proxy.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                settings.no_proxy_at_all = true;
                continue;
            }
            if let Some(cidr) = parse_cidr(&entry) {
                settings.no_proxy.push(cidr);
                continue;
            }
            let (host, port) = split_port(&entry);
            if host.is_empty() {
                continue;
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                settings.no_proxy.push(NoProxyEntry::Ip(ip, port));
                continue;
            }
            let host = host.strip_prefix('*').unwrap_or(host);
            let (domain, itself) = match host.strip_prefix('.') {
                Some(_) => (host.to_string(), false),
                None => (format!(".{host}"), true),
            };
            settings
                .no_proxy
                .push(NoProxyEntry::Domain(domain, port, itself));
        }
        settings
    }

    /// True when neither `HTTP_PROXY` nor `HTTPS_PROXY` is set.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// The proxy for a request to `target`, or `None` to go directly.
    pub fn proxy_for(&self, target: &Url) -> Option<Url> {
        let proxy = match target.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        let host = target.host_str()?;
        let port = target.port_or_known_default();
        self.uses_proxy(host, port).then(|| proxy.clone())
    }

    /// Go's `useProxy`: not for localhost or loopback, nor for what `NO_PROXY` names.
    fn uses_proxy(&self, host: &str, port: Option<u16>) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host == "localhost" {
            return false;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) || self.no_proxy_at_all {
            return false;
        }
        let port_matches = |wanted: &Option<u16>| wanted.is_none() || *wanted == port;
        !self.no_proxy.iter().any(|entry| match (entry, ip) {
            (NoProxyEntry::Ip(want, p), Some(ip)) => *want == ip && port_matches(p),
            (NoProxyEntry::Cidr(network, bits), Some(ip)) => in_network(ip, *network, *bits),
            (NoProxyEntry::Domain(domain, p, itself), None) => {
                (host.ends_with(domain.as_str()) || (*itself && host == domain[1..]))
                    && port_matches(p)
            }
            _ => false,
        })
    }
}

/// A proxy URL as Go reads one: without a scheme (or unparseable), `http://` is tried.
fn parse_proxy(text: &str) -> Option<Url> {
    let text = text.trim();
    match Url::parse(text) {
        Ok(url) if url.has_host() && text.contains("://") => Some(url),
        _ => Url::parse(&format!("http://{text}")).ok(),
    }
}

/// `host:port` → host and port; `[v6]:port` and bare IPv6 handled.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn parse_cidr(entry: &str) -> Option<NoProxyEntry> {
    let (ip, bits) = entry.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some(NoProxyEntry::Cidr(ip, bits))
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> EnvProxy {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvProxy::from_vars(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn via(settings: &EnvProxy, url: &str) -> Option<String> {
        settings
            .proxy_for(&Url::parse(url).unwrap())
            .map(|u| u.to_string())
    }

    #[test]
    fn the_scheme_picks_the_variable_and_a_bare_proxy_is_http() {
        let s = env(&[
            ("HTTPS_PROXY", "proxy:3128"),
            ("http_proxy", "http://p2:80"),
        ]);
        assert_eq!(
            via(&s, "https://k8s.example:6443/"),
            Some("http://proxy:3128/".into())
        );
        assert_eq!(
            via(&s, "http://registry.example/v2/"),
            Some("http://p2/".into())
        );
        let upper_wins = env(&[("HTTPS_PROXY", "http://a:1"), ("https_proxy", "http://b:1")]);
        assert_eq!(via(&upper_wins, "https://x/"), Some("http://a:1/".into()));
        let socks = env(&[("HTTPS_PROXY", "socks5://s:1080")]);
        assert_eq!(via(&socks, "https://x/"), Some("socks5://s:1080".into()));
    }

    #[test]
    fn loopback_and_localhost_never_use_the_environment_proxy() {
        let s = env(&[("HTTPS_PROXY", "http://proxy:3128")]);
        for url in [
            "https://127.0.0.1:6443/",
            "https://localhost/",
            "https://[::1]:5000/",
        ] {
            assert_eq!(via(&s, url), None, "{url}");
        }
    }

    #[test]
    fn no_proxy_matches_as_go_does() {
        let s = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            (
                "NO_PROXY",
                " example.com, .internal, *.corp, 10.0.0.0/8, 192.168.1.5, api.test:6443",
            ),
        ]);
        for direct in [
            "https://example.com/",
            "https://a.example.com/",
            "https://x.internal/",
            "https://y.corp/",
            "https://10.1.2.3/",
            "https://192.168.1.5/",
            "https://api.test:6443/",
        ] {
            assert_eq!(via(&s, direct), None, "{direct}");
        }
        for proxied in [
            "https://notexample.com/",
            "https://internal/",
            "https://corp/",
            "https://11.0.0.1/",
            "https://api.test:443/",
        ] {
            assert!(via(&s, proxied).is_some(), "{proxied}");
        }
        let all = env(&[("HTTPS_PROXY", "http://proxy:3128"), ("no_proxy", "*")]);
        assert_eq!(via(&all, "https://example.com/"), None);
    }
}
