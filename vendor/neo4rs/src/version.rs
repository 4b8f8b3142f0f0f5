use crate::errors::{Error, Result};
use bytes::{BufMut, BytesMut};
use std::cmp::PartialEq;
use std::fmt::{Debug, Display, Formatter};

#[derive(Debug, PartialEq, Eq, Clone, Copy, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Version {
    V4,
    V4_1,
    V4_3,
    V4_4,
    /// Bolt 5.1: HELLO carries no credentials; they follow in LOGON.
    V5_1,
}

impl Version {
    pub fn add_supported_versions(bytes: &mut BytesMut) {
        bytes.reserve(16);
        // PATCH(mcp): 5.1 first. FalkorDB reads only the first proposal and
        // accepts only Bolt >= 5.1; Neo4j 5.5+ picks 5.1 too, older servers 4.x.
        // Only four slots: 4.3 gave way (4.3 servers also speak 4.1).
        bytes.put_u32(0x0105); // V5_1
        bytes.put_u32(0x0404); // V4_4
        bytes.put_u32(0x0104); // V4_1 (a 4.3 server picks 4.1)
        bytes.put_u32(0x0004); // V4
    }

    pub fn parse(version_bytes: [u8; 4]) -> Result<Version> {
        match version_bytes {
            [0, 0, 1, 5] => Ok(Version::V5_1),
            [0, 0, 4, 4] => Ok(Version::V4_4),
            [0, 0, 3, 4] => Ok(Version::V4_3),
            [0, 0, 1, 4] => Ok(Version::V4_1),
            [0, 0, 0, 4] => Ok(Version::V4),
            [0, 0, minor, major] => Err(Error::UnsupportedVersion(major, minor)),
            otherwise => Err(Error::ProtocolMismatch(u32::from_be_bytes(otherwise))),
        }
    }
}

impl Display for Version {
    fn fmt(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        match self {
            Version::V4 => write!(f, "4.0"),
            Version::V4_1 => write!(f, "4.1"),
            Version::V4_3 => write!(f, "4.3"),
            Version::V4_4 => write!(f, "4.4"),
            Version::V5_1 => write!(f, "5.1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn should_parse_version() {
        assert_eq!(Version::parse([0, 0, 1, 5]).unwrap(), Version::V5_1);
        assert_eq!(Version::parse([0, 0, 4, 4]).unwrap(), Version::V4_4);
        assert_eq!(Version::parse([0, 0, 3, 4]).unwrap(), Version::V4_3);
        assert_eq!(Version::parse([0, 0, 1, 4]).unwrap(), Version::V4_1);
        assert_eq!(Version::parse([0, 0, 0, 4]).unwrap(), Version::V4);
    }
}
