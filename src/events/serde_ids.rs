//! Serde adapters for field types whose own modules do not implement
//! `Deserialize`; needed to read events back from the spill file.

pub mod transaction_id {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::routing::TransactionId;

    pub fn serialize<S: Serializer>(id: &TransactionId, serializer: S) -> Result<S::Ok, S::Error> {
        id.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<TransactionId, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        TransactionId::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("transaction id must be 32 lowercase hex"))
    }
}

pub mod shared_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(text: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(deserializer).map(Arc::from)
    }
}
