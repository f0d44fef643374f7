//! Cross-host networking: the network mode, the routed pool and [`Ipv4Cidr`], the CIDR
//! arithmetic the addressing of the plan is built on.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

/// How containers on different hosts reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Each host owns a subnet of the pool; nap routes the subnets between hosts (like
    /// flannel's host-gw) and names resolve to container addresses.
    Routed,
    /// Names resolve to the host's address; services reach each other on published ports.
    Published,
    /// One daemon: Docker's own DNS on the project network, as in compose.
    Local,
}

/// An IPv4 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    /// The network address (host bits zero).
    pub network: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

/// Why a network in CIDR form cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// No `/`.
    #[error("{text:?} is not in CIDR form (a.b.c.d/n)")]
    NotCidr {
        /// The text.
        text: String,
    },
    /// The part before `/` is not an IPv4 address.
    #[error("{text:?} has an invalid address")]
    Address {
        /// The text.
        text: String,
    },
    /// The part after `/` is not a number from 0 to 32.
    #[error("{text:?} has an invalid prefix length")]
    Prefix {
        /// The text.
        text: String,
    },
    /// The address has bits set past the prefix.
    #[error("{text:?} has host bits set (did you mean {network}?)")]
    HostBits {
        /// The text.
        text: String,
        /// The network the text probably meant.
        network: Ipv4Cidr,
    },
}

impl Ipv4Cidr {
    /// Parses `a.b.c.d/n`; host bits must be zero.
    pub fn parse(text: &str) -> Result<Ipv4Cidr, CidrError> {
        let (address, prefix) = text.split_once('/').ok_or_else(|| CidrError::NotCidr {
            text: text.to_string(),
        })?;
        let network: Ipv4Addr = address.parse().map_err(|_| CidrError::Address {
            text: text.to_string(),
        })?;
        let prefix: u8 =
            prefix
                .parse()
                .ok()
                .filter(|p| *p <= 32)
                .ok_or_else(|| CidrError::Prefix {
                    text: text.to_string(),
                })?;
        let cidr = Ipv4Cidr { network, prefix };
        if u32::from(network) & !cidr.mask() != 0 {
            return Err(CidrError::HostBits {
                text: text.to_string(),
                network: Ipv4Cidr {
                    network: Ipv4Addr::from(u32::from(network) & cidr.mask()),
                    prefix,
                },
            });
        }
        Ok(cidr)
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// Whether `address` is inside.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == u32::from(self.network)
    }

    /// How many subnets of `prefix` it holds.
    pub fn subnet_count(&self, prefix: u8) -> u64 {
        if prefix < self.prefix {
            0
        } else {
            1u64 << (prefix - self.prefix)
        }
    }

    /// The `index`th subnet of length `prefix`.
    pub fn subnet(&self, prefix: u8, index: u64) -> Option<Ipv4Cidr> {
        if index >= self.subnet_count(prefix) || prefix > 32 {
            return None;
        }
        let size = 1u64 << (32 - u32::from(prefix));
        let start = u64::from(u32::from(self.network)) + index * size;
        Some(Ipv4Cidr {
            network: Ipv4Addr::from(u32::try_from(start).ok()?),
            prefix,
        })
    }

    /// The `offset`th address of the network (`.1` is offset 1).
    pub fn address(&self, offset: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        (u64::from(offset) < size).then(|| Ipv4Addr::from(u32::from(self.network) + offset))
    }

    /// Whether two networks overlap.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `network:` settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkSettings {
    /// Routed, published or local.
    pub mode: NetworkMode,
    /// Routed mode: the pool project-network subnets (one /24 per network and host) come from.
    pub pool: Ipv4Cidr,
}

/// The default routed pool.
pub fn default_pool() -> Ipv4Cidr {
    Ipv4Cidr {
        network: Ipv4Addr::new(172, 30, 0, 0),
        prefix: 16,
    }
}
