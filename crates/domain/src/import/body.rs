//! The stored body of a user: its JSON without the lists that are rows of their own, written
//! straight from the user by a serializer that leaves those fields out.

use crate::model::User;
use serde::ser::{Error as _, Impossible, Serialize, SerializeStruct, Serializer};

/// The stored body of a user: its JSON without the lists stored as rows of their own.
pub fn user_body(u: &User) -> String {
    let mut out = Vec::with_capacity(256);
    write_user_body(u, &mut out);
    // serde_json writes only UTF-8.
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// [`user_body`] appended to `out`, written straight from the user: no JSON tree is built and
/// the lists left out are never serialized.
fn write_user_body(u: &User, out: &mut Vec<u8>) {
    let mut json = serde_json::Serializer::new(out);
    u.serialize(WithoutLists(&mut json))
        .expect("users serialize");
}

/// Fields of a user that are rows of their own, not part of its body.
const LISTS: [&str; 2] = ["registrations", "memberships"];

/// Serializes a struct through serde_json, leaving out the fields named in [`LISTS`]. A user
/// is the only thing it serializes; anything but a struct is an error.
struct WithoutLists<'a, W: std::io::Write>(&'a mut serde_json::Serializer<W>);

/// A struct's fields, those in [`LISTS`] skipped.
struct Fields<S>(S);

impl<S: SerializeStruct> SerializeStruct for Fields<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        if LISTS.contains(&key) {
            return Ok(());
        }
        self.0.serialize_field(key, value)
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

/// What [`WithoutLists`] answers for anything but a struct.
fn not_a_struct<T>() -> Result<T, serde_json::Error> {
    Err(serde_json::Error::custom("a user serializes as a struct"))
}

/// The methods of [`WithoutLists`] for everything but a struct: each an error.
macro_rules! refused {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $name(self, $(_: $arg),*) -> Result<(), serde_json::Error> {
            not_a_struct()
        }
    )*};
}

impl<'a, W: std::io::Write> Serializer for WithoutLists<'a, W> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Impossible<(), serde_json::Error>;
    type SerializeTuple = Impossible<(), serde_json::Error>;
    type SerializeTupleStruct = Impossible<(), serde_json::Error>;
    type SerializeTupleVariant = Impossible<(), serde_json::Error>;
    type SerializeMap = Impossible<(), serde_json::Error>;
    type SerializeStruct =
        Fields<<&'a mut serde_json::Serializer<W> as Serializer>::SerializeStruct>;
    type SerializeStructVariant = Impossible<(), serde_json::Error>;

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, serde_json::Error> {
        Ok(Fields(self.0.serialize_struct(name, len)?))
    }

    refused!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), serde_json::Error> {
        not_a_struct()
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), serde_json::Error> {
        not_a_struct()
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), serde_json::Error> {
        not_a_struct()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, serde_json::Error> {
        not_a_struct()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, serde_json::Error> {
        not_a_struct()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, serde_json::Error> {
        not_a_struct()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, serde_json::Error> {
        not_a_struct()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, serde_json::Error> {
        not_a_struct()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, serde_json::Error> {
        not_a_struct()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn the_body_is_the_user_without_its_lists() {
        let user: User = serde_json::from_value(serde_json::json!({
            "id": Uuid::from_u128(1), "tenantId": Uuid::from_u128(2),
            "email": "ann@example.com", "fullName": "Ann \"A\" Lee",
            "data": {"plan": "gold", "n": [1, 2.5, null]},
            "preferredLanguages": ["en"], "verified": true,
            "registrations": [{"id": Uuid::from_u128(3), "applicationId": Uuid::from_u128(7)}],
            "memberships": [{"id": Uuid::from_u128(4), "groupId": Uuid::from_u128(9)}],
        }))
        .unwrap();
        let body: serde_json::Value = serde_json::from_str(&user_body(&user)).unwrap();
        let mut expected = serde_json::to_value(&user).unwrap();
        let m = expected.as_object_mut().unwrap();
        assert!(m.remove("registrations").is_some() && m.remove("memberships").is_some());
        assert_eq!(body, expected);
        let back: User = serde_json::from_value(body).unwrap();
        assert_eq!(back.full_name.as_deref(), Some("Ann \"A\" Lee"));
        assert!(back.registrations.is_empty() && back.memberships.is_empty());
    }

    #[test]
    fn anything_but_a_struct_is_refused() {
        let mut out = Vec::new();
        let mut json = serde_json::Serializer::new(&mut out);
        assert!(7u8.serialize(WithoutLists(&mut json)).is_err());
        assert!(vec![1].serialize(WithoutLists(&mut json)).is_err());
    }
}
