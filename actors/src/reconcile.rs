//! The publication reconciler, as one pure function over the settings document: cameras and
//! pipelines in, publications, generated transmissions, camera live views and implicit camera
//! pipelines out (spec: original-api.md §3). Manual transmissions, live views and pipelines are
//! kept; generated ones are replaced, and removed when nothing generates them any more. Running it
//! twice changes nothing the second time.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value, json};

use crate::model::camera::{Camera, SourceRole};
use crate::model::pipeline::{CAMERA_SOURCE, Graph, Node, PUBLISH_VIDEO, Pipeline};
use crate::model::publication::{
    CameraLiveView, LiveVariant, LiveViewDefaults, LiveViewOwner, OwnerKind, Publication,
    QUALITY_PROFILES, VariantRole, native_output, webrtc_low_latency_output,
};
use crate::model::settings::StreamingSettings;
use crate::model::transmission::{QualityProfileId, Transmission, normalize_path_slug};

/// `generated_by` of what the reconciler makes (transmissions, pipelines).
pub const GENERATED_BY: &str = "stream_publication";
/// The original's older generator; what it left behind is cleaned up too.
const LEGACY_GENERATED_BY: &str = "camera_live_view";
pub const IMPLICIT_PREFIX: &str = "implicit__";

/// `_slugify`: lowercase, every non-alphanumeric run becomes one `-`, trimmed.
fn slugify(value: &str) -> String {
    let mut out = String::new();
    for c in value.trim().to_lowercase().chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// `_live_slug`: the non-empty slugs joined with `-`, then a path slug.
fn live_slug(parts: &[&str], fallback: &str) -> String {
    let joined: Vec<String> = parts
        .iter()
        .map(|p| slugify(p))
        .filter(|p| !p.is_empty())
        .collect();
    normalize_path_slug(&joined.join("-"), fallback)
}

/// `live-<camera name>-<camera id>`, e.g. `live-front-door-cam1`.
pub fn camera_live_view_id(camera: &Camera) -> String {
    let name = if camera.name.is_empty() {
        "Camera"
    } else {
        &camera.name
    };
    live_slug(&["live", name, &camera.id], &format!("live-{}", camera.id))
}

pub fn publication_transmission_id(publication: &Publication) -> String {
    let role = publication.role.as_str();
    match publication.owner_kind {
        OwnerKind::CameraSource => live_slug(
            &[
                "tx",
                "camera",
                publication.camera_id.as_deref().unwrap_or(""),
                publication.camera_source_id.as_deref().unwrap_or(""),
                role,
            ],
            &publication.id,
        ),
        OwnerKind::PipelineOutput => live_slug(
            &[
                "tx",
                "pipeline",
                publication.pipeline_name.as_deref().unwrap_or(""),
                publication.publish_node_id.as_deref().unwrap_or(""),
                role,
            ],
            &publication.id,
        ),
    }
}

/// A pipeline name safe for the original's core: letters, digits, `_`, `-` and `.`.
fn safe_pipeline_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn implicit_pipeline_name(transmission_id: &str) -> String {
    safe_pipeline_name(&format!("{IMPLICIT_PREFIX}{transmission_id}"))
}

/// "Principal", or "Principal · Lobby" when the source's name says more than its role.
fn source_label(role: SourceRole, source_name: &str) -> String {
    let name = if source_name.trim().is_empty() {
        "Fonte"
    } else {
        source_name.trim()
    };
    if name.to_lowercase() == role.label().to_lowercase() {
        role.label().to_string()
    } else {
        format!("{} · {name}", role.label())
    }
}

fn text(config: &Map<String, Value>, key: &str) -> Option<String> {
    config
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn is_generated(extra: &Map<String, Value>) -> bool {
    matches!(
        extra.get("generated_by").and_then(Value::as_str),
        Some(GENERATED_BY | LEGACY_GENERATED_BY)
    )
}

/// Step 1: the publications the cameras and pipelines ask for, keeping user-editable fields.
pub fn publications(doc: &StreamingSettings) -> Vec<Publication> {
    let existing: BTreeMap<&str, &Publication> = doc
        .publications
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();
    let mut result = Vec::new();
    for camera in doc.cameras.iter().filter(|c| !c.id.is_empty()) {
        for source in camera.sources.iter().filter(|s| s.is_live_video()) {
            let id = format!("camera:{}:{}", camera.id, source.id);
            let kept = existing.get(id.as_str()).copied();
            let generated_label = source_label(source.role, source.display_name());
            let label = kept
                .map(|p| p.label.clone())
                .filter(|l| !l.is_empty() && *l != id)
                .unwrap_or(generated_label);
            result.push(Publication {
                owner_kind: OwnerKind::CameraSource,
                camera_id: Some(camera.id.clone()),
                camera_source_id: Some(source.id.clone()),
                pipeline_name: None,
                publish_node_id: None,
                enabled: kept.is_none_or(|p| p.enabled),
                role: source.role,
                label,
                live_view_id: Some(camera_live_view_id(camera)),
                live_view_label: kept.and_then(|p| p.live_view_label.clone()),
                variant_id: kept.and_then(|p| p.variant_id.clone()),
                variant_label: kept.and_then(|p| p.variant_label.clone()),
                host_server_id: crate::distributed::LOCAL_SERVER_ID.into(),
                quality_policy: kept.map(|p| p.quality_policy.clone()).unwrap_or_default(),
                transport_policy: kept.map(|p| p.transport_policy.clone()).unwrap_or_default(),
                id,
            });
        }
    }
    for pipeline in doc.pipelines.iter().filter(|p| {
        !matches!(p.generated_by(), Some(GENERATED_BY | LEGACY_GENERATED_BY)) && !p.name.is_empty()
    }) {
        let mut nodes: Vec<&Node> = pipeline.graph.nodes.iter().collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        for node in nodes.iter().filter(|n| {
            n.operator == PUBLISH_VIDEO && n.flag("publication_enabled") && !n.id.is_empty()
        }) {
            result.push(pipeline_publication(doc, pipeline, node, &existing));
        }
    }
    result.sort_by(|a, b| {
        let key = |p: &Publication| {
            (
                p.owner_kind,
                p.camera_id.clone().unwrap_or_default(),
                p.role.as_str(),
                p.label.clone(),
                p.id.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    result
}

fn pipeline_publication(
    doc: &StreamingSettings,
    pipeline: &Pipeline,
    node: &Node,
    existing: &BTreeMap<&str, &Publication>,
) -> Publication {
    let config = &node.config;
    let id = format!("pipeline:{}:{}", pipeline.name, node.id);
    let kept = existing.get(id.as_str()).copied();
    let mut upstream_sources: Vec<&Node> = pipeline
        .graph
        .upstream(&node.id)
        .into_iter()
        .filter(|n| n.operator == CAMERA_SOURCE)
        .collect();
    upstream_sources.sort_by(|a, b| a.id.cmp(&b.id));
    let first_source = upstream_sources.first();
    let explicit_camera = text(config, "publication_camera_id");
    let camera_id = explicit_camera
        .clone()
        .or_else(|| first_source.and_then(|n| text(&n.config, "camera_id")));
    let camera_source_id = text(config, "publication_camera_source_id")
        .or_else(|| first_source.and_then(|n| text(&n.config, "source_id")));
    let role = text(config, "publication_role")
        .map(|r| serde_json::from_value(json!(r.to_lowercase())).unwrap_or_default())
        .or(kept.map(|p| p.role))
        .unwrap_or(SourceRole::Custom);
    let variant_label = text(config, "publication_variant_label")
        .or_else(|| text(config, "publication_label"))
        .or_else(|| {
            kept.and_then(|p| p.variant_label.clone())
                .filter(|l| !l.is_empty())
        })
        .or_else(|| kept.map(|p| p.label.clone()).filter(|l| !l.is_empty()))
        .unwrap_or_else(|| role.label().to_string());
    let mut live_view_label = text(config, "publication_live_view_label")
        .or_else(|| kept.and_then(|p| p.live_view_label.clone()))
        .unwrap_or_default();
    let target_camera = explicit_camera.as_deref().and_then(|c| doc.camera(c));
    let live_view_id =
        text(config, "publication_live_view_id").unwrap_or_else(|| match target_camera {
            Some(camera) if live_view_label.is_empty() => camera_live_view_id(camera),
            _ => {
                let basis = if live_view_label.is_empty() {
                    &pipeline.name
                } else {
                    &live_view_label
                };
                live_slug(&["live", "pipeline", basis], &id)
            }
        });
    if live_view_label.is_empty() {
        live_view_label = match target_camera {
            Some(camera) => camera.display_name().to_string(),
            None => pipeline.name.clone(),
        };
    }
    let mut quality_policy = kept.map(|p| p.quality_policy.clone()).unwrap_or_default();
    if let Some(profile) = text(config, "publication_quality_profile_id")
        .filter(|p| serde_json::from_value::<QualityProfileId>(json!(p)).is_ok())
    {
        quality_policy.insert("default_profile_id".into(), json!(profile));
    }
    let mut transport_policy = kept.map(|p| p.transport_policy.clone()).unwrap_or_default();
    let flag =
        |key: &str, default: bool| config.get(key).and_then(Value::as_bool).unwrap_or(default);
    transport_policy.insert(
        "show_in_dashboard".into(),
        json!(flag("publication_show_in_dashboard", true)),
    );
    transport_policy.insert(
        "show_in_home_assistant".into(),
        json!(flag("publication_show_in_home_assistant", false)),
    );
    Publication {
        owner_kind: OwnerKind::PipelineOutput,
        camera_id,
        camera_source_id,
        pipeline_name: Some(pipeline.name.clone()),
        publish_node_id: Some(node.id.clone()),
        enabled: pipeline.enabled,
        role,
        label: variant_label.clone(),
        live_view_id: Some(live_view_id),
        live_view_label: Some(live_view_label),
        variant_id: text(config, "publication_variant_id")
            .or_else(|| kept.and_then(|p| p.variant_id.clone())),
        variant_label: Some(variant_label),
        host_server_id: pipeline.processing_server_id.clone(),
        quality_policy,
        transport_policy,
        id,
    }
}

/// Reconciles `doc` in place; returns warnings for publications that could not be generated.
pub fn reconcile(doc: &mut StreamingSettings, now: &str) -> Vec<String> {
    let publications = publications(doc);
    let mut warnings = Vec::new();
    let mut transmissions: Vec<Transmission> = Vec::new();
    let mut groups: BTreeMap<String, Vec<(&Publication, LiveVariant)>> = BTreeMap::new();
    let mut group_names: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for publication in publications
        .iter()
        .filter(|p| p.enabled && p.transport_flag("show_in_dashboard") != Some(false))
    {
        let camera = publication
            .camera_id
            .as_deref()
            .and_then(|id| doc.camera(id));
        if publication.owner_kind == OwnerKind::CameraSource {
            let missing = match (&publication.camera_id, &publication.camera_source_id) {
                (None, _) | (_, None) => Some("Camera target is missing"),
                _ if camera.is_none() => Some("Camera not found"),
                (_, Some(source)) if camera.and_then(|c| c.live_source(source)).is_none() => {
                    Some("Camera source not found")
                }
                _ => None,
            };
            if let Some(what) = missing {
                warnings.push(format!("{what} for publication '{}'.", publication.id));
                continue;
            }
        }
        let view_name = match (publication.owner_kind, camera) {
            (OwnerKind::CameraSource, Some(camera)) => camera.display_name().to_string(),
            _ => publication.live_view_label.clone().unwrap_or_default(),
        };
        let view_id = publication.live_view_id.clone().unwrap_or_else(|| {
            live_slug(
                &[
                    "live",
                    "pipeline",
                    publication
                        .pipeline_name
                        .as_deref()
                        .unwrap_or(&publication.id),
                ],
                &publication.id,
            )
        });
        let transmission = generated_transmission(doc, publication, &view_id, now);
        let variant = generated_variant(publication, &transmission.id);
        transmissions.push(transmission);
        group_names
            .entry(view_id.clone())
            .or_insert((view_name, publication.camera_id.clone()));
        groups
            .entry(view_id)
            .or_default()
            .push((publication, variant));
    }

    let mut views = Vec::new();
    for (view_id, members) in groups {
        let mut variants: Vec<LiveVariant> = Vec::new();
        for (publication, mut variant) in members.iter().cloned() {
            if variants.iter().any(|v| v.id == variant.id) {
                variant.id = live_slug(
                    &[
                        &variant.id,
                        publication.pipeline_name.as_deref().unwrap_or(""),
                        publication
                            .publish_node_id
                            .as_deref()
                            .unwrap_or(&publication.id),
                    ],
                    &variant.id,
                );
            }
            variants.push(variant);
        }
        let owner_kind = if members
            .iter()
            .any(|(p, _)| p.owner_kind == OwnerKind::PipelineOutput)
        {
            OwnerKind::PipelineOutput
        } else {
            OwnerKind::CameraSource
        };
        let (name, camera_id) = group_names.remove(&view_id).unwrap_or_default();
        views.push(CameraLiveView {
            defaults: defaults_for(&variants),
            id: view_id,
            owner_kind: owner_kind.into(),
            camera_id,
            name,
            enabled: true,
            host_server_id: members[0].0.host_server_id.clone(),
            variants,
            extra: Map::new(),
        });
    }

    merge(doc, publications, transmissions, views);
    upsert_implicit_pipelines(doc);
    sync_pipeline_output_nodes(doc);
    warnings
}

fn generated_transmission(
    doc: &StreamingSettings,
    publication: &Publication,
    view_id: &str,
    now: &str,
) -> Transmission {
    let id = publication_transmission_id(publication);
    let mut outputs: Vec<Value> = QUALITY_PROFILES.iter().map(|p| p.output()).collect();
    outputs.push(native_output());
    if publication.role == SourceRole::Zoom
        || publication.transport_flag("enable_webrtc") == Some(true)
    {
        outputs.push(webrtc_low_latency_output());
    }
    let camera_controls = publication.camera_id.as_ref().map(|camera_id| {
        json!({"enabled": true, "camera_id": camera_id, "camera_source_id": publication.camera_source_id})
    });
    let value = json!({
        "id": id,
        "name": publication.label,
        "enabled": publication.enabled,
        "host_server_id": publication.host_server_id,
        "path": id,
        "placeholder": "gray",
        "arbitration": "priority_latest",
        "camera_controls": camera_controls,
        "outputs": outputs,
        "generated_by": GENERATED_BY,
        "publication_id": publication.id,
        "owner_kind": publication.owner_kind,
        "camera_id": publication.camera_id,
        "camera_source_id": publication.camera_source_id,
        "role": publication.role,
        "camera_live_view_id": view_id,
    });
    let mut transmission: Transmission =
        serde_json::from_value(value).expect("generated transmissions are well-formed");
    transmission.normalize();
    // Timestamps move only when the generated content does, so a reconcile that changes nothing
    // writes nothing new.
    let stored = doc.transmission(&transmission.id);
    transmission.created_at = stored
        .and_then(|t| t.created_at.clone())
        .or_else(|| Some(now.to_string()));
    transmission.updated_at = match stored {
        Some(old) if same_content(old, &transmission) => old.updated_at.clone(),
        _ => Some(now.to_string()),
    };
    transmission
}

fn same_content(a: &Transmission, b: &Transmission) -> bool {
    let strip = |t: &Transmission| {
        let mut t = t.clone();
        t.created_at = None;
        t.updated_at = None;
        t
    };
    strip(a) == strip(b)
}

fn generated_variant(publication: &Publication, transmission_id: &str) -> LiveVariant {
    let profile = publication.default_profile();
    let label = publication
        .variant_label
        .clone()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| publication.label.clone());
    let id = match (
        &publication.variant_id,
        publication.owner_kind,
        publication.role,
    ) {
        (Some(configured), _, _) => live_slug(&[configured], configured),
        (
            None,
            OwnerKind::PipelineOutput,
            SourceRole::Main | SourceRole::Sub | SourceRole::Zoom,
        ) => publication.role.as_str().to_string(),
        (None, OwnerKind::CameraSource, _) => {
            let source = publication.camera_source_id.as_deref().unwrap_or("");
            live_slug(&[source], &publication.id)
        }
        (None, _, role) => live_slug(
            &[role.as_str(), &label],
            publication
                .publish_node_id
                .as_deref()
                .unwrap_or(&publication.id),
        ),
    };
    let profile_id = crate::model::name_of(&profile);
    LiveVariant {
        label: if label.is_empty() { id.clone() } else { label },
        id,
        role: publication.role.into(),
        camera_source_id: publication.camera_source_id.clone(),
        transmission_id: transmission_id.to_string(),
        output_id: Some(format!("hls_{profile_id}")),
        quality_profile_id: Some(profile),
        preferred_transport: "auto".into(),
        enabled: publication.enabled,
    }
}

/// Context defaults by role preference: thumbnail/pip prefer sub; large/fullscreen prefer main;
/// ptz prefers zoom, then main, then sub.
fn defaults_for(variants: &[LiveVariant]) -> LiveViewDefaults {
    use SourceRole::*;
    let pick = |order: &[SourceRole]| {
        let enabled: Vec<&LiveVariant> = variants.iter().filter(|v| v.enabled).collect();
        order
            .iter()
            .find_map(|role| enabled.iter().find(|v| v.role == VariantRole::from(*role)))
            .or(enabled.first())
            .or(variants.first().as_ref())
            .map(|v| v.id.clone())
    };
    let small = pick(&[Sub, Main, Zoom, Custom]);
    let large = pick(&[Main, Zoom, Sub, Custom]);
    LiveViewDefaults {
        thumbnail_variant_id: small.clone(),
        pip_variant_id: small,
        large_variant_id: large.clone(),
        fullscreen_variant_id: large,
        ptz_variant_id: pick(&[Zoom, Main, Sub, Custom]),
    }
}

/// Step 3: generated artifacts replace stored generated ones; manual ones stay.
fn merge(
    doc: &mut StreamingSettings,
    publications: Vec<Publication>,
    transmissions: Vec<Transmission>,
    views: Vec<CameraLiveView>,
) {
    let generated_tx: HashSet<String> = transmissions.iter().map(|t| t.id.clone()).collect();
    let generated_views: HashSet<String> = views.iter().map(|v| v.id.clone()).collect();
    let managed_cameras: HashSet<String> = publications
        .iter()
        .filter(|p| p.owner_kind == OwnerKind::CameraSource)
        .filter_map(|p| p.camera_id.clone())
        .collect();
    let kept_views: Vec<CameraLiveView> = std::mem::take(&mut doc.camera_live_views)
        .into_iter()
        .filter(|v| !generated_views.contains(&v.id))
        .filter(|v| v.owner_kind != LiveViewOwner::PipelineOutput)
        .filter(|v| {
            v.camera_id
                .as_ref()
                .is_none_or(|c| !managed_cameras.contains(c))
        })
        .collect();
    let kept_tx: Vec<Transmission> = std::mem::take(&mut doc.transmissions)
        .into_iter()
        .filter(|t| !generated_tx.contains(&t.id) && !is_generated(&t.extra))
        .collect();
    doc.transmissions = transmissions.into_iter().chain(kept_tx).collect();
    let existing: HashSet<String> = doc.transmissions.iter().map(|t| t.id.clone()).collect();
    let mut all_views = views;
    for mut view in kept_views {
        view.variants
            .retain(|v| existing.contains(&v.transmission_id));
        if view.variants.is_empty() {
            continue;
        }
        let ids: HashSet<String> = view.variants.iter().map(|v| v.id.clone()).collect();
        let fixed = defaults_for(&view.variants);
        let keep = |current: &Option<String>, fallback: &Option<String>| match current {
            Some(id) if ids.contains(id) => current.clone(),
            _ => fallback.clone(),
        };
        let d = &view.defaults;
        view.defaults = LiveViewDefaults {
            thumbnail_variant_id: keep(&d.thumbnail_variant_id, &fixed.thumbnail_variant_id),
            pip_variant_id: keep(&d.pip_variant_id, &fixed.pip_variant_id),
            large_variant_id: keep(&d.large_variant_id, &fixed.large_variant_id),
            fullscreen_variant_id: keep(&d.fullscreen_variant_id, &fixed.fullscreen_variant_id),
            ptz_variant_id: keep(&d.ptz_variant_id, &fixed.ptz_variant_id),
        };
        all_views.push(view);
    }
    doc.camera_live_views = all_views;
    doc.publications = publications;
}

/// Step 4: `implicit__<tx>` pipelines `camera.source -> stream.publish_video` for enabled camera
/// publications; generated pipelines nobody asks for any more are deleted.
fn upsert_implicit_pipelines(doc: &mut StreamingSettings) {
    let mut wanted: Vec<Pipeline> = Vec::new();
    for publication in doc
        .publications
        .iter()
        .filter(|p| p.owner_kind == OwnerKind::CameraSource && p.enabled)
    {
        let tx_id = publication_transmission_id(publication);
        if doc.transmission(&tx_id).is_none() {
            continue;
        }
        let graph = json!({
            "schema_version": 1,
            "nodes": [
                {"id": "source", "operator": CAMERA_SOURCE, "config": {
                    "camera_id": publication.camera_id, "source_id": publication.camera_source_id,
                    "backend": "auto"}},
                {"id": "stream", "operator": PUBLISH_VIDEO, "config": {
                    "transmission_id": tx_id, "resize_mode": "contain", "writer_priority": 0,
                    "bypass_mode": "auto"}}
            ],
            "edges": [{"from": {"node": "source", "port": "out"}, "to": {"node": "stream", "port": "in"},
                       "maxsize": 8, "drop_policy": "drop_oldest"}],
            "meta": {"streaming": {
                "transmission_id": tx_id, "camera_id": publication.camera_id,
                "camera_source_id": publication.camera_source_id, "preset_id": "simple_stream",
                "stream_behavior": "continuous", "demand_driven": true, "generated_by": GENERATED_BY,
                "publication_id": publication.id, "owner_kind": publication.owner_kind,
                "role": publication.role, "camera_live_view_id": publication.live_view_id}}
        });
        wanted.push(Pipeline {
            name: implicit_pipeline_name(&tx_id),
            enabled: true,
            processing_server_id: publication.host_server_id.clone(),
            graph: serde_json::from_value::<Graph>(graph)
                .expect("generated graphs are well-formed"),
            extra: Map::new(),
        });
    }
    let wanted_names: HashSet<String> = wanted.iter().map(|p| p.name.clone()).collect();
    let kept: Vec<Pipeline> = std::mem::take(&mut doc.pipelines)
        .into_iter()
        .filter(|p| {
            !wanted_names.contains(&p.name)
                && !matches!(p.generated_by(), Some(GENERATED_BY | LEGACY_GENERATED_BY))
        })
        .collect();
    doc.pipelines = kept.into_iter().chain(wanted).collect();
}

/// Step 5: a pipeline's publish node learns the transmission its publication generated.
fn sync_pipeline_output_nodes(doc: &mut StreamingSettings) {
    let targets: BTreeMap<(String, String), String> = doc
        .publications
        .iter()
        .filter(|p| p.owner_kind == OwnerKind::PipelineOutput)
        .filter(|p| doc.transmission(&publication_transmission_id(p)).is_some())
        .filter_map(|p| {
            Some((
                (p.pipeline_name.clone()?, p.publish_node_id.clone()?),
                publication_transmission_id(p),
            ))
        })
        .collect();
    for pipeline in &mut doc.pipelines {
        for node in &mut pipeline.graph.nodes {
            if let Some(tx) = targets.get(&(pipeline.name.clone(), node.id.clone())) {
                node.config.insert("transmission_id".into(), json!(tx));
            }
        }
    }
}

/// Spec warnings for a publish sink that will not get continuous video in this graph.
pub fn event_gate_warnings(graph: &Graph, publish_node_id: &str) -> Vec<&'static str> {
    event_gates(graph, publish_node_id)
        .into_iter()
        .map(|(_, warning)| warning)
        .collect()
}

/// The upstream nodes that stop frames between events: (the original's reason code, warning).
pub fn event_gates(graph: &Graph, publish_node_id: &str) -> Vec<(&'static str, &'static str)> {
    let mut gates = Vec::new();
    for node in graph.upstream(publish_node_id) {
        let gate = match node.operator.as_str() {
            "camera.motion_gate" if !node.flag("emit_when_idle") => Some((
                "motion_gate_idle_filter",
                "stream.publish_video is downstream of a motion gate that stops frames while idle.",
            )),
            "vision.detect" => match node.text("emit_mode") {
                Some("filter" | "filter_frames") => Some((
                    "vision_detect_filter",
                    "stream.publish_video is downstream of detection in filter mode.",
                )),
                Some("events" | "event") => Some((
                    "vision_detect_events",
                    "stream.publish_video is downstream of detection in events mode.",
                )),
                _ => None,
            },
            "vision.track" => Some((
                "vision_track_events",
                "stream.publish_video is downstream of tracking event packets.",
            )),
            "vision.group_events" => Some((
                "vision_group_events",
                "stream.publish_video is downstream of grouped event packets.",
            )),
            _ => None,
        };
        if let Some(gate) = gate.filter(|g| !gates.contains(g)) {
            gates.push(gate);
        }
    }
    gates
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-12-01T00:00:00.000000Z";
    const LATER: &str = "2026-12-02T00:00:00.000000Z";

    fn doc() -> StreamingSettings {
        serde_json::from_value(json!({
            "cameras": [
                {"id": "cam1", "name": "Front Door", "sources": [
                    {"id": "main", "name": "Principal", "role": "main",
                     "origin": {"rtsp_url": "rtsp://10.0.0.5/main", "stream_password": "s"}},
                    {"id": "sub", "name": "Lobby", "role": "sub", "origin": {"rtsp_url": "rtsp://10.0.0.5/sub"}},
                    {"id": "zoom", "role": "zoom", "origin": {"rtsp_url": "rtsp://10.0.0.5/zoom", "has_ptz": true}},
                    {"id": "off", "role": "custom", "enabled": false},
                    {"id": "audio", "kind": "audio"}
                ]},
                {"id": "cam2", "name": "Yard", "sources": [{"id": "main", "role": "main"}]}
            ],
            "transmissions": [{"id": "manual", "name": "Manual", "path": "manual",
                               "outputs": [{"id": "rtsp", "protocol": "rtsp"}]}],
            "pipelines": [{"name": "vision", "graph": {
                "nodes": [
                    {"id": "cam", "operator": "camera.source", "config": {"camera_id": "cam2", "source_id": "main"}},
                    {"id": "motion", "operator": "camera.motion_gate", "config": {}},
                    {"id": "out", "operator": "stream.publish_video",
                     "config": {"publication_enabled": true, "publication_role": "main"}}
                ],
                "edges": [{"from": {"node": "cam"}, "to": {"node": "motion"}},
                          {"from": {"node": "motion"}, "to": {"node": "out"}}]}}]
        }))
        .unwrap()
    }

    fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
        items.iter().map(|t| id(t).to_string()).collect()
    }

    #[test]
    fn cameras_and_pipelines_become_publications_transmissions_views_and_pipelines() {
        let mut doc = doc();
        let warnings = reconcile(&mut doc, NOW);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            ids(&doc.publications, |p| &p.id),
            [
                "camera:cam1:main",
                "camera:cam1:sub",
                "camera:cam1:zoom",
                "camera:cam2:main",
                "pipeline:vision:out"
            ]
        );
        let labels: Vec<&str> = doc.publications.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Principal",
                "Baixa resolução · Lobby",
                "Zoom",
                "Principal · main",
                "Principal"
            ]
        );

        let tx = ids(&doc.transmissions, |t| &t.id);
        assert_eq!(
            tx,
            [
                "tx-camera-cam1-main-main",
                "tx-camera-cam1-sub-sub",
                "tx-camera-cam1-zoom-zoom",
                "tx-camera-cam2-main-main",
                "tx-pipeline-vision-out-main",
                "manual"
            ],
            "generated first, the manual transmission kept"
        );
        let main = &doc.transmissions[0];
        let outputs = ids(&main.outputs, |o| &o.id);
        assert_eq!(
            outputs,
            [
                "hls_quad_grid",
                "hls_stable_apple_tv",
                "hls_fullscreen_quality",
                "hls_diagnostic_low",
                "hls_native"
            ]
        );
        assert_eq!(main.extra["generated_by"], "stream_publication");
        assert_eq!(main.extra["publication_id"], "camera:cam1:main");
        let zoom = &doc.transmissions[2];
        assert_eq!(
            zoom.outputs.last().unwrap().id,
            "webrtc_low_latency",
            "zoom gets WebRTC"
        );

        let view = doc
            .camera_live_views
            .iter()
            .find(|v| v.id == "live-front-door-cam1")
            .unwrap();
        assert_eq!(ids(&view.variants, |v| &v.id), ["main", "sub", "zoom"]);
        assert_eq!(view.defaults.thumbnail_variant_id.as_deref(), Some("sub"));
        assert_eq!(view.defaults.fullscreen_variant_id.as_deref(), Some("main"));
        assert_eq!(view.defaults.ptz_variant_id.as_deref(), Some("zoom"));
        // Main and sub play the camera's own stream (relayed when it is H.264); zoom keeps
        // the original's fullscreen profile.
        assert_eq!(view.variants[1].output_id.as_deref(), Some("hls_native"));
        assert_eq!(view.variants[0].output_id.as_deref(), Some("hls_native"));
        assert_eq!(
            view.variants[2].output_id.as_deref(),
            Some("hls_fullscreen_quality")
        );

        let names = ids(&doc.pipelines, |p| &p.name);
        assert_eq!(
            names,
            [
                "vision",
                "implicit__tx-camera-cam1-main-main",
                "implicit__tx-camera-cam1-sub-sub",
                "implicit__tx-camera-cam1-zoom-zoom",
                "implicit__tx-camera-cam2-main-main"
            ]
        );
        let vision = doc.pipeline("vision").unwrap();
        assert_eq!(
            vision.graph.node("out").unwrap().config["transmission_id"],
            "tx-pipeline-vision-out-main"
        );
        assert_eq!(
            event_gate_warnings(&vision.graph, "out"),
            ["stream.publish_video is downstream of a motion gate that stops frames while idle."]
        );
        doc.validate(&crate::model::error::Loc::body())
            .expect("the result is a valid document");
    }

    #[test]
    fn reconciling_twice_changes_nothing() {
        let mut once = doc();
        reconcile(&mut once, NOW);
        let mut twice = once.clone();
        reconcile(&mut twice, LATER);
        assert_eq!(once, twice);
    }

    #[test]
    fn renamed_labels_and_disabled_publications_survive_a_reconcile() {
        let mut doc = doc();
        reconcile(&mut doc, NOW);
        let sub = doc
            .publications
            .iter_mut()
            .find(|p| p.id == "camera:cam1:sub")
            .unwrap();
        sub.label = "Hall (low)".into();
        let zoom = doc
            .publications
            .iter_mut()
            .find(|p| p.id == "camera:cam1:zoom")
            .unwrap();
        zoom.enabled = false;
        reconcile(&mut doc, LATER);
        let sub = doc
            .publications
            .iter()
            .find(|p| p.id == "camera:cam1:sub")
            .unwrap();
        assert_eq!(sub.label, "Hall (low)");
        assert_eq!(
            doc.transmission("tx-camera-cam1-sub-sub").unwrap().name,
            "Hall (low)"
        );
        assert!(
            doc.transmission("tx-camera-cam1-zoom-zoom").is_none(),
            "disabled: no transmission"
        );
        assert!(
            doc.pipeline("implicit__tx-camera-cam1-zoom-zoom").is_none(),
            "nor pipeline"
        );
        assert!(
            !doc.publications
                .iter()
                .find(|p| p.id == "camera:cam1:zoom")
                .unwrap()
                .enabled
        );
        let view = doc
            .camera_live_views
            .iter()
            .find(|v| v.id == "live-front-door-cam1")
            .unwrap();
        assert_eq!(
            view.defaults.ptz_variant_id.as_deref(),
            Some("main"),
            "ptz falls back to main"
        );
    }

    #[test]
    fn a_deleted_camera_or_source_takes_its_artifacts_along_and_manual_ones_stay() {
        let mut doc = doc();
        reconcile(&mut doc, NOW);
        doc.cameras.retain(|c| c.id != "cam1");
        doc.cameras[0].sources[0].enabled = false;
        reconcile(&mut doc, LATER);
        assert_eq!(ids(&doc.publications, |p| &p.id), ["pipeline:vision:out"]);
        assert_eq!(
            ids(&doc.transmissions, |t| &t.id),
            ["tx-pipeline-vision-out-main", "manual"]
        );
        assert_eq!(ids(&doc.pipelines, |p| &p.name), ["vision"]);
        assert_eq!(
            ids(&doc.camera_live_views, |v| &v.id),
            ["live-pipeline-vision"]
        );
    }

    #[test]
    fn hidden_or_broken_publications_generate_nothing() {
        let mut doc = doc();
        reconcile(&mut doc, NOW);
        let main = doc
            .publications
            .iter_mut()
            .find(|p| p.id == "camera:cam2:main")
            .unwrap();
        main.transport_policy
            .insert("show_in_dashboard".into(), json!(false));
        let pipeline = doc
            .pipelines
            .iter_mut()
            .find(|p| p.name == "vision")
            .unwrap();
        pipeline.graph.nodes[2]
            .config
            .insert("publication_camera_id".into(), json!("ghost"));
        pipeline.graph.nodes[2]
            .config
            .insert("publication_camera_source_id".into(), json!("x"));
        let warnings = reconcile(&mut doc, LATER);
        assert!(
            warnings.is_empty(),
            "pipeline outputs with unknown cameras still generate: {warnings:?}"
        );
        assert!(doc.transmission("tx-camera-cam2-main-main").is_none());
        assert!(doc.transmission("tx-pipeline-vision-out-main").is_some());
    }
}
