//! Edits of the settings document as pure functions: each takes the current document and the
//! request, and either changes the document and answers, or refuses and changes nothing.

use serde_json::{Map, Value};

use super::error::{FieldError, Loc, ModelError, from_value};
use super::publication::{
    NATIVE_OUTPUT_ID, QUALITY_PROFILES, profile_output, webrtc_low_latency_output,
};
use super::settings::StreamingSettings;
use super::transmission::{QualityProfileId, REDACTED, Transmission};

/// Keys a create request may carry; anything else is refused so a typo never passes silently.
const CREATE_KEYS: &[&str] = &[
    "id",
    "name",
    "enabled",
    "host_server_id",
    "path",
    "placeholder",
    "arbitration",
    "camera_controls",
    "outputs",
];

/// Sections `PATCH /settings` may change.
const PATCH_KEYS: &[&str] = &[
    "publications",
    "camera_live_views",
    "transmissions",
    "engine",
    "camera_ingest",
    "stale_policy",
    "processing_servers",
];

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

/// `POST /transmissions`: a new transmission, newest first. `name` and `path` are required.
pub fn create_transmission(
    doc: &mut StreamingSettings,
    body: Value,
    now: &str,
) -> Result<Transmission, ModelError> {
    let body = expect_object(body)?;
    refuse_unknown_keys(&body, CREATE_KEYS)?;
    for required in ["name", "path"] {
        if !body.contains_key(required) {
            return Err(ModelError::Invalid(vec![FieldError::new(
                "missing",
                &Loc::body().key(required),
                "Field required",
            )]));
        }
    }
    let mut transmission: Transmission = from_value(Value::Object(body), &Loc::body())?;
    transmission.normalize();
    transmission.restore_redacted_passwords(None, &Loc::body())?;
    transmission.created_at = Some(now.to_string());
    transmission.updated_at = Some(now.to_string());
    validate_candidate(doc, &transmission, None)?;
    doc.transmissions.insert(0, transmission.clone());
    Ok(transmission)
}

/// `PUT /transmissions/{id}`: full replacement. An omitted `id` means the one in the URL.
pub fn replace_transmission(
    doc: &mut StreamingSettings,
    id: &str,
    body: Value,
    now: &str,
) -> Result<Transmission, ModelError> {
    let mut body = expect_object(body)?;
    let index = doc
        .transmissions
        .iter()
        .position(|t| t.id == id)
        .ok_or_else(|| ModelError::NotFound("Transmission not found".into()))?;
    match body.get("id") {
        None | Some(Value::Null) => {
            body.insert("id".into(), Value::from(id));
        }
        Some(Value::String(body_id)) if body_id.trim() == id => {}
        Some(_) => return Err(ModelError::BadRequest("Transmission id mismatch".into())),
    }
    let stored = &doc.transmissions[index];
    refuse_generated(stored)?;
    let mut transmission: Transmission = from_value(Value::Object(body), &Loc::body())?;
    transmission.normalize();
    transmission.restore_redacted_passwords(Some(stored), &Loc::body())?;
    transmission.created_at = stored.created_at.clone().or_else(|| Some(now.to_string()));
    transmission.updated_at = Some(now.to_string());
    validate_candidate(doc, &transmission, Some(id))?;
    doc.transmissions[index] = transmission.clone();
    Ok(transmission)
}

/// Rewrites a stored transmission's outputs with `change`: a replacement like PUT's.
fn edit_outputs(
    doc: &mut StreamingSettings,
    id: &str,
    now: &str,
    change: impl FnOnce(&mut Vec<Value>),
) -> Result<Transmission, ModelError> {
    let stored = doc
        .transmission(id)
        .ok_or_else(|| ModelError::NotFound("Transmission not found".into()))?;
    let mut body = serde_json::to_value(stored).expect("a transmission serializes");
    let mut outputs = body["outputs"].as_array().cloned().unwrap_or_default();
    change(&mut outputs);
    body["outputs"] = Value::Array(outputs);
    replace_transmission(doc, id, body, now)
}

/// `POST /transmissions/{id}/quality-profiles/apply` (original §2.10): the requested profiles'
/// HLS outputs (catalogue order; all four when none are named) replace every profile HLS
/// output, ahead of the outputs kept.
pub fn apply_quality_profiles(
    doc: &mut StreamingSettings,
    id: &str,
    requested: Option<&[QualityProfileId]>,
    now: &str,
) -> Result<(Transmission, Vec<QualityProfileId>), ModelError> {
    // Naming none applies the original's four; `native` applies only when named.
    let applied: Vec<QualityProfileId> = QUALITY_PROFILES
        .iter()
        .map(|p| p.id)
        .chain([QualityProfileId::Native])
        .filter(|id| match requested {
            Some(named) if !named.is_empty() => named.contains(id),
            _ => *id != QualityProfileId::Native,
        })
        .collect();
    let profile_output_ids: Vec<String> = QUALITY_PROFILES
        .iter()
        .map(|p| format!("hls_{}", p.id_str()))
        .chain([NATIVE_OUTPUT_ID.to_string()])
        .collect();
    let transmission = edit_outputs(doc, id, now, |outputs| {
        outputs.retain(|o| {
            let profile_hls = o["protocol"] == "hls"
                && (!o["quality_profile_id"].is_null()
                    || profile_output_ids.iter().any(|id| o["id"] == id.as_str()));
            !profile_hls
        });
        let mut rebuilt: Vec<Value> = applied.iter().map(|id| profile_output(*id)).collect();
        rebuilt.append(outputs);
        *outputs = rebuilt;
    })?;
    Ok((transmission, applied))
}

/// `POST /transmissions/{id}/webrtc/companion/apply`: one `webrtc_low_latency` output, last.
pub fn apply_webrtc_companion(
    doc: &mut StreamingSettings,
    id: &str,
    now: &str,
) -> Result<Transmission, ModelError> {
    edit_outputs(doc, id, now, |outputs| {
        outputs.retain(|o| o["id"] != "webrtc_low_latency");
        outputs.push(webrtc_low_latency_output());
    })
}

pub fn delete_transmission(doc: &mut StreamingSettings, id: &str) -> Result<(), ModelError> {
    if let Some(stored) = doc.transmission(id) {
        refuse_generated(stored)?;
    }
    let before = doc.transmissions.len();
    doc.transmissions.retain(|t| t.id != id);
    if doc.transmissions.len() == before {
        return Err(ModelError::NotFound("Transmission not found".into()));
    }
    Ok(())
}

/// A generated transmission belongs to its publication: the manual CRUD may read it, not change
/// it (409 naming what to change instead).
fn refuse_generated(stored: &Transmission) -> Result<(), ModelError> {
    if stored.extra.get("generated_by").and_then(Value::as_str)
        != Some(crate::reconcile::GENERATED_BY)
    {
        return Ok(());
    }
    let text = |key: &str| stored.extra.get(key).and_then(Value::as_str).unwrap_or("");
    let owner = match text("owner_kind") {
        "pipeline_output" => {
            let publication = text("publication_id");
            let mut parts = publication.splitn(3, ':').skip(1);
            format!(
                "pipeline '{}' node '{}' (PUT /api/pipelines/{})",
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                publication.split(':').nth(1).unwrap_or("")
            )
        }
        _ => format!(
            "camera '{0}' source '{1}' (PUT /api/streams/publications/camera-sources/{0}/{1})",
            text("camera_id"),
            text("camera_source_id")
        ),
    };
    Err(ModelError::Conflict(FieldError::new(
        "conflict",
        &Loc::body().key("id"),
        format!(
            "Transmission '{}' is generated by publication '{}'; change {owner} instead.",
            stored.id,
            text("publication_id")
        ),
    )))
}

/// `PATCH /settings`: deep merge (objects merge, lists and scalars replace, `null` leaves a
/// field as it is), then the whole document must validate, or nothing changes.
/// What `POST /engine/start|stop` and `/mse/start|stop` switch on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    Engine,
    MseSidecar,
}

/// Turns one runtime on or off; nothing else in the document changes.
pub fn switch(doc: &mut StreamingSettings, what: Switch, enabled: bool) {
    match what {
        Switch::Engine => doc.engine.enabled = enabled,
        Switch::MseSidecar => doc.engine.mse_sidecar.enabled = enabled,
    }
}

pub fn patch_settings(
    doc: &mut StreamingSettings,
    patch: Value,
    now: &str,
) -> Result<StreamingSettings, ModelError> {
    let patch = expect_object(patch)?;
    refuse_unknown_keys(&patch, PATCH_KEYS)?;
    let mut merged = serde_json::to_value(&*doc).expect("settings serialize");
    merge(&mut merged, Value::Object(patch), &Loc::body())?;
    let mut next = StreamingSettings::from_json(merged, &Loc::body())?;
    for (index, transmission) in next.transmissions.iter_mut().enumerate() {
        let stored = doc.transmission(&transmission.id);
        let loc = Loc::body().key("transmissions").index(index);
        transmission.restore_redacted_passwords(stored, &loc)?;
        stamp(transmission, stored, now);
    }
    for (index, server) in next.processing_servers.iter_mut().enumerate() {
        if server.password.as_deref() != Some(REDACTED) {
            continue;
        }
        let kept = doc
            .processing_servers
            .iter()
            .find(|s| s.id == server.id)
            .and_then(|s| s.password.clone());
        match kept {
            Some(password) => server.password = Some(password),
            None => {
                return Err(ModelError::invalid(
                    &Loc::body()
                        .key("processing_servers")
                        .index(index)
                        .key("password"),
                    "password is the redaction marker but no password is stored for this server",
                ));
            }
        }
    }
    // The original checks every live view's references on a settings write (§2.4 step 3).
    for view in &next.camera_live_views {
        super::live_views::check_references(&next, view)?;
    }
    *doc = next.clone();
    Ok(next)
}

/// Keeps `created_at`, and bumps `updated_at` only when the transmission really changed.
fn stamp(transmission: &mut Transmission, stored: Option<&Transmission>, now: &str) {
    match stored {
        Some(stored) => {
            transmission.created_at = stored.created_at.clone().or_else(|| Some(now.into()));
            let mut unchanged = transmission.clone();
            unchanged.updated_at = stored.updated_at.clone();
            unchanged.created_at = stored.created_at.clone();
            transmission.updated_at = if unchanged == *stored {
                stored.updated_at.clone()
            } else {
                Some(now.into())
            };
        }
        None => {
            transmission.created_at = Some(now.into());
            transmission.updated_at = Some(now.into());
        }
    }
}

/// Checks that `candidate` fits the document (uniqueness, known host), reporting locations
/// relative to the request body. The candidate is validated last so a clash is reported on it.
fn validate_candidate(
    doc: &StreamingSettings,
    candidate: &Transmission,
    replacing: Option<&str>,
) -> Result<(), ModelError> {
    let mut trial = doc.clone();
    if let Some(id) = replacing {
        trial.transmissions.retain(|t| t.id != id);
    }
    trial.transmissions.push(candidate.clone());
    let candidate_prefix = [
        Value::from("body"),
        Value::from("transmissions"),
        Value::from(trial.transmissions.len() - 1),
    ];
    let relocate = |mut error: FieldError| {
        if error.loc.starts_with(&candidate_prefix) {
            error
                .loc
                .splice(0..candidate_prefix.len(), [Value::from("body")]);
        }
        error
    };
    trial.validate(&Loc::body()).map_err(|err| match err {
        ModelError::Invalid(errors) => {
            ModelError::Invalid(errors.into_iter().map(relocate).collect())
        }
        ModelError::Conflict(error) => ModelError::Conflict(relocate(error)),
        other => other,
    })
}

fn expect_object(value: Value) -> Result<Map<String, Value>, ModelError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ModelError::Invalid(vec![
            FieldError::new("model_type", &Loc::body(), "Input should be a JSON object")
                .with_input(other),
        ])),
    }
}

fn refuse_unknown_keys(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ModelError> {
    let unknown: Vec<FieldError> = body
        .iter()
        .filter(|(key, _)| !allowed.contains(&key.as_str()))
        .map(|(key, value)| {
            FieldError::new(
                "extra_forbidden",
                &Loc::body().key(key),
                "Extra inputs are not permitted",
            )
            .with_input(value.clone())
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ModelError::Invalid(unknown))
    }
}

/// Deep-merges `patch` into `target`. A section that is an object must be patched with an
/// object: `{"engine": []}` is refused, never taken as "replace the engine with nothing".
fn merge(target: &mut Value, patch: Value, loc: &Loc) -> Result<(), ModelError> {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    continue;
                }
                let field = loc.key(&key);
                match target.get_mut(&key) {
                    Some(existing) if existing.is_object() => {
                        if !value.is_object() {
                            return Err(ModelError::Invalid(vec![
                                FieldError::new("dict_type", &field, "Input should be an object")
                                    .with_input(value),
                            ]));
                        }
                        merge(existing, value, &field)?;
                    }
                    Some(existing) if existing.is_array() && !value.is_array() => {
                        return Err(ModelError::Invalid(vec![
                            FieldError::new("list_type", &field, "Input should be a list")
                                .with_input(value),
                        ]));
                    }
                    _ => {
                        target.insert(key, value);
                    }
                }
            }
            Ok(())
        }
        (target, patch) => {
            *target = patch;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2026-01-01T00:00:00.000000Z";

    fn doc_with(body: Value) -> (StreamingSettings, Transmission) {
        let mut doc = StreamingSettings::default();
        let created = create_transmission(&mut doc, body, NOW).unwrap();
        (doc, created)
    }

    #[test]
    fn create_generates_id_slug_and_timestamps() {
        let (doc, created) = doc_with(json!({"name": " Front ", "path": "Front Door"}));
        assert_eq!(created.path, "front-door");
        assert_eq!(created.name, "Front");
        assert_eq!(
            uuid::Uuid::parse_str(&created.id)
                .unwrap()
                .get_version_num(),
            4
        );
        assert_eq!(created.created_at.as_deref(), Some(NOW));
        assert_eq!(doc.transmissions.len(), 1);
    }

    #[test]
    fn create_conflict_points_at_the_request_field() {
        let (mut doc, _) = doc_with(json!({"name": "a", "path": "x"}));
        let err =
            create_transmission(&mut doc, json!({"name": "b", "path": "X"}), NOW).unwrap_err();
        let ModelError::Conflict(error) = err else {
            panic!("expected conflict, got {err:?}")
        };
        assert_eq!(error.loc, vec![json!("body"), json!("path")]);
        assert_eq!(doc.transmissions.len(), 1);
    }

    #[test]
    fn replace_keeps_created_at_and_redacted_password() {
        let (mut doc, created) = doc_with(json!({"name": "a", "path": "x", "outputs": [
            {"id": "o", "protocol": "rtsp", "authentication": {"enabled": true, "username": "u", "password": "secret"}}
        ]}));
        let mut body = serde_json::to_value(created.redacted()).unwrap();
        body.as_object_mut().unwrap().remove("id");
        body["name"] = json!("renamed");
        let later = "2026-01-02T00:00:00.000000Z";
        let replaced = replace_transmission(&mut doc, &created.id, body, later).unwrap();
        assert_eq!(replaced.created_at.as_deref(), Some(NOW));
        assert_eq!(replaced.updated_at.as_deref(), Some(later));
        assert_eq!(replaced.outputs[0].credentials(), Some(("u", "secret")));
    }

    #[test]
    fn patch_merges_deeply_and_is_all_or_nothing() {
        let mut doc = StreamingSettings::default();
        patch_settings(
            &mut doc,
            json!({"engine": {"preferred_ports": {"rtsp": 9554}}}),
            NOW,
        )
        .unwrap();
        assert_eq!(doc.engine.preferred_ports.rtsp, 9554);
        assert_eq!(doc.engine.preferred_ports.hls, 8888);
        let before = doc.clone();
        let err = patch_settings(
            &mut doc,
            json!({"engine": {"expose_to_lan": true, "jsmpeg": {"fps": 99}}}),
            NOW,
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::Invalid(_)));
        assert_eq!(doc, before);
    }

    #[test]
    fn patch_refuses_unknown_sections() {
        let mut doc = StreamingSettings::default();
        let err = patch_settings(&mut doc, json!({"engnie": {}}), NOW).unwrap_err();
        let ModelError::Invalid(errors) = err else {
            panic!()
        };
        assert_eq!(errors[0].loc, vec![json!("body"), json!("engnie")]);
    }
}
