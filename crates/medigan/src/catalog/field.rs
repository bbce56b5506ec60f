//! `Field<T>`: a catalogue value that may be absent, explicitly `null`, or set.
//!
//! The upstream catalogue writes many fields as `null`; others leave them out. Keeping the three
//! states apart is what lets an entry serialize back to exactly the JSON it was read from.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A metadata value that distinguishes "not written" from "written as `null`".
///
/// Use with `#[serde(default, skip_serializing_if = "Field::is_absent")]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    /// The key is not in the JSON object.
    #[default]
    Absent,
    /// The key is present with the value `null`.
    Null,
    /// The key is present with a value.
    Value(T),
}

impl<T> Field<T> {
    /// The value, if one is set (`None` for both absent and `null`).
    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            Field::Absent | Field::Null => None,
        }
    }

    /// Whether the key is missing from the JSON object (used to skip it when serializing).
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
}

impl<T> From<Option<T>> for Field<T> {
    fn from(value: Option<T>) -> Self {
        match value {
            Some(v) => Field::Value(v),
            None => Field::Null,
        }
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(v) => v.serialize(serializer),
            Field::Absent | Field::Null => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(Field::from)
    }
}
