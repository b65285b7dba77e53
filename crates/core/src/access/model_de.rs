//! Hand-written serde forms of the policy document: `"all"`-or-list values, `"block"`-or-object
//! grants, and string-or-one-key-object enums (controls, sign-in frequency).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::{
    AllOr, Grant, GrantControl, LocationExclude, LocationInclude, RequireControls, SignInFrequency,
};

// ---- "keyword or list" values -------------------------------------------------------------

enum KeywordOrList<T> {
    Keyword(usize),
    List(Vec<T>),
}

struct KeywordOrListVisitor<T> {
    keywords: &'static [&'static str],
    expecting: &'static str,
    marker: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for KeywordOrListVisitor<T> {
    type Value = KeywordOrList<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match self.keywords.iter().position(|k| *k == v) {
            Some(i) => Ok(KeywordOrList::Keyword(i)),
            None => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(KeywordOrList::List(out))
    }
}

fn keyword_or_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    keywords: &'static [&'static str],
    expecting: &'static str,
) -> Result<KeywordOrList<T>, D::Error> {
    d.deserialize_any(KeywordOrListVisitor {
        keywords,
        expecting,
        marker: PhantomData,
    })
}

impl<T: Serialize> Serialize for AllOr<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AllOr::All => s.serialize_str("all"),
            AllOr::List(v) => v.serialize(s),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AllOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            match keyword_or_list(d, &["all"], "\"all\" or a list of ids")? {
                KeywordOrList::Keyword(_) => AllOr::All,
                KeywordOrList::List(v) => AllOr::List(v),
            },
        )
    }
}

impl Serialize for LocationInclude {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LocationInclude::All => s.serialize_str("all"),
            LocationInclude::AllTrusted => s.serialize_str("all_trusted"),
            LocationInclude::Locations(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for LocationInclude {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            match keyword_or_list(
                d,
                &["all", "all_trusted"],
                "\"all\", \"all_trusted\" or a list of named location ids",
            )? {
                KeywordOrList::Keyword(0) => LocationInclude::All,
                KeywordOrList::Keyword(_) => LocationInclude::AllTrusted,
                KeywordOrList::List(v) => LocationInclude::Locations(v),
            },
        )
    }
}

impl Serialize for LocationExclude {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LocationExclude::AllTrusted => s.serialize_str("all_trusted"),
            LocationExclude::Locations(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for LocationExclude {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            match keyword_or_list(
                d,
                &["all_trusted"],
                "\"all_trusted\" or a list of named location ids",
            )? {
                KeywordOrList::Keyword(_) => LocationExclude::AllTrusted,
                KeywordOrList::List(v) => LocationExclude::Locations(v),
            },
        )
    }
}

impl Serialize for Grant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Grant::Block => s.serialize_str("block"),
            Grant::Require(r) => r.serialize(s),
        }
    }
}

struct GrantVisitor;

impl<'de> Visitor<'de> for GrantVisitor {
    type Value = Grant;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"block\" or {operator, controls}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Grant, E> {
        if v == "block" {
            Ok(Grant::Block)
        } else {
            Err(E::invalid_value(Unexpected::Str(v), &self))
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Grant, A::Error> {
        RequireControls::deserialize(de::value::MapAccessDeserializer::new(map)).map(Grant::Require)
    }
}

impl<'de> Deserialize<'de> for Grant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(GrantVisitor)
    }
}

// ---- "string or one-key object" enums ----------------------------------------------------
//
// Written by hand because YAML libraries in the serde_yaml family want `!tag value` for enum
// variants with data; the documented shape (`{terms_of_use: tou-1}`) must read the same in
// JSON and YAML.

/// Reads the single key of a one-key object.
fn only_key<'de, A: MapAccess<'de>>(
    map: &mut A,
    expected: &'static str,
) -> Result<String, A::Error> {
    map.next_key::<String>()?
        .ok_or_else(|| de::Error::invalid_length(0, &expected))
}

fn no_more_keys<'de, A: MapAccess<'de>>(
    map: &mut A,
    expected: &'static str,
) -> Result<(), A::Error> {
    match map.next_key::<String>()? {
        None => Ok(()),
        Some(k) => Err(de::Error::custom(format!(
            "unexpected second key `{k}`: expected {expected}"
        ))),
    }
}

struct GrantControlVisitor;

const CONTROL_EXPECTED: &str = "a control: \"mfa\", \"compliant_device\", \"registered_device\", \"password_change\", \"register_security_info\", {authentication_strength: id} or {terms_of_use: id}";

impl<'de> Visitor<'de> for GrantControlVisitor {
    type Value = GrantControl;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(CONTROL_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GrantControl, E> {
        Ok(match v {
            "mfa" => GrantControl::Mfa,
            "compliant_device" => GrantControl::CompliantDevice,
            "registered_device" => GrantControl::RegisteredDevice,
            "password_change" => GrantControl::PasswordChange,
            "register_security_info" => GrantControl::RegisterSecurityInfo,
            _ => return Err(E::invalid_value(Unexpected::Str(v), &self)),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GrantControl, A::Error> {
        let key = only_key(&mut map, CONTROL_EXPECTED)?;
        let c = match key.as_str() {
            "authentication_strength" => {
                GrantControl::AuthenticationStrength(map.next_value::<String>()?.into())
            }
            "terms_of_use" => GrantControl::TermsOfUse(map.next_value::<String>()?.into()),
            _ => {
                return Err(de::Error::unknown_variant(
                    &key,
                    &["authentication_strength", "terms_of_use"],
                ));
            }
        };
        no_more_keys(&mut map, CONTROL_EXPECTED)?;
        Ok(c)
    }
}

impl<'de> Deserialize<'de> for GrantControl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(GrantControlVisitor)
    }
}

struct FrequencyVisitor;

const FREQUENCY_EXPECTED: &str = "\"every_time\" or {every_hours: N}";

impl<'de> Visitor<'de> for FrequencyVisitor {
    type Value = SignInFrequency;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(FREQUENCY_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SignInFrequency, E> {
        match v {
            "every_time" => Ok(SignInFrequency::EveryTime),
            _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SignInFrequency, A::Error> {
        let key = only_key(&mut map, FREQUENCY_EXPECTED)?;
        if key != "every_hours" {
            return Err(de::Error::unknown_variant(&key, &["every_hours"]));
        }
        let f = SignInFrequency::EveryHours(map.next_value()?);
        no_more_keys(&mut map, FREQUENCY_EXPECTED)?;
        Ok(f)
    }
}

impl<'de> Deserialize<'de> for SignInFrequency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FrequencyVisitor)
    }
}
