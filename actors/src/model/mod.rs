//! Serde types of the settings document and API payloads, with their validation.

pub mod camera;
pub mod checks;
pub mod edit;
pub mod error;
pub mod live_views;
pub mod pipeline;
pub mod publication;
pub mod registry;
pub mod settings;
pub mod start_options;
pub mod strict;
pub mod transmission;

/// The value of a `rename_all` enum a string names (a query parameter), if it names one.
pub fn parse_name<T: serde::de::DeserializeOwned>(raw: &str) -> Option<T> {
    use serde::de::IntoDeserializer;
    let deserializer: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        raw.into_deserializer();
    T::deserialize(deserializer).ok()
}

/// The name such an enum value serializes to.
pub fn name_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::transmission::QualityProfileId;
    use super::*;

    #[test]
    fn enum_names_round_trip() {
        assert_eq!(
            parse_name::<QualityProfileId>("quad_grid"),
            Some(QualityProfileId::QuadGrid)
        );
        assert_eq!(parse_name::<QualityProfileId>("Quad Grid"), None);
        assert_eq!(parse_name::<QualityProfileId>(""), None);
        assert_eq!(name_of(&QualityProfileId::StableAppleTv), "stable_apple_tv");
    }
}
