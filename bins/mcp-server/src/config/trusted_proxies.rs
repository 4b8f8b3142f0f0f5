//! [`TrustedProxies`]: the reverse proxies whose forwarding headers name the client.
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Addresses and networks (`10.0.0.0/8`, `::1`) of reverse proxies in front of the server.
/// Empty by default: the client is the TCP peer and forwarding headers are ignored.
///
/// Read from a TOML list or, for environment variables, from one comma-separated string
/// (`MCP_HTTP__TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1`). A malformed entry stops start-up.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses entries: a network in CIDR notation or a single address.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        entries
            .into_iter()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "http.trusted_proxies: `{e}` is neither an address nor a network (CIDR)"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is one of the trusted proxies (an IPv4-mapped IPv6 peer counts as its
    /// IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

impl Serialize for TrustedProxies {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<String>),
            Text(String),
        }
        let parsed = match Form::deserialize(d)? {
            Form::List(items) => Self::parse(items.iter().map(String::as_str)),
            Form::Text(text) => Self::parse(text.split(',')),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_single_addresses_are_trusted_and_nothing_else() {
        let t = TrustedProxies::parse(["10.0.0.0/8", "::1", " 192.168.1.7 "]).unwrap();
        for yes in ["10.1.2.3", "::1", "192.168.1.7", "::ffff:10.9.9.9"] {
            assert!(t.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in ["11.0.0.1", "192.168.1.8", "::2"] {
            assert!(!t.contains(no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn a_list_and_a_comma_separated_string_both_read() {
        let from_list: TrustedProxies =
            toml::from_str::<toml::Table>("p = [\"10.0.0.0/8\", \"::1\"]").unwrap()["p"]
                .clone()
                .try_into()
                .unwrap();
        let from_text: TrustedProxies = toml::Value::String("10.0.0.0/8, ::1".into())
            .try_into()
            .unwrap();
        assert_eq!(from_list, from_text);
        let bad: Result<TrustedProxies, _> =
            toml::Value::String("10.0.0.0/8,proxy".into()).try_into();
        assert!(bad.unwrap_err().to_string().contains("`proxy`"));
    }
}
