// PATCH(mcp): LOGON, the Bolt 5.1+ message that carries the credentials HELLO no longer has.
use crate::types::*;
use neo4rs_macros::BoltStruct;

#[derive(Debug, PartialEq, Clone, BoltStruct)]
#[signature(0xB1, 0x6A)]
pub struct Logon {
    auth: BoltMap,
}

impl Logon {
    pub fn new(auth: BoltMap) -> Logon {
        Logon { auth }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Version;
    use bytes::Bytes;

    #[test]
    fn logon_is_a_one_field_structure_with_signature_0x6a() {
        let logon = Logon::new(vec![("scheme".into(), "basic".into())].into_iter().collect());
        let bytes: Bytes = logon.into_bytes(Version::V5_1).unwrap();
        assert_eq!(&bytes[..2], &[0xB1, 0x6A]);
        assert_eq!(bytes[2], 0xA1); // tiny map with one entry
    }
}
