//! The advanced wizard's pipeline graphs (`POST /wizard/create-pipeline`), as the original built
//! them (spec: original-api.md §6.7). Only `simple_stream` (with an optional fps reducer) runs in
//! this service; the vision presets are stored and reported as not runnable here.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::error::{Loc, ModelError, from_value};
use crate::model::pipeline::{Graph, Pipeline};
use crate::model::settings::StreamingSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    SimpleStream,
    MotionGateStream,
    DetectionStream,
    TrackingStream,
    SegmentationStream,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StreamBehavior {
    #[default]
    Continuous,
    EventGated,
}

/// The wizard's optional parameters. Unknown keys are accepted and ignored, as the original's
/// model (`extra=allow`) did, so clients sending its newer keys are not refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Options {
    #[serde(default)]
    pub pipeline_name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub processing_server_id: Option<String>,
    #[serde(default)]
    pub source_backend: Option<String>,
    #[serde(default)]
    pub stream_behavior: StreamBehavior,
    #[serde(default)]
    pub use_fps_reducer: Option<bool>,
    #[serde(default)]
    pub fps_limit: Option<f64>,
    #[serde(default)]
    pub motion_sensitivity: Option<f64>,
    #[serde(default)]
    pub motion_hold_seconds: Option<f64>,
    #[serde(default)]
    pub resize_mode: Option<crate::model::transmission::ResizeMode>,
    #[serde(default)]
    pub writer_priority: Option<i64>,
    #[serde(default)]
    pub bypass_mode: Option<BypassMode>,
    #[serde(default)]
    pub yolo_confidence_threshold: Option<f64>,
    #[serde(default)]
    pub yolo_filter_enabled: Option<bool>,
    #[serde(default)]
    pub detection_categories: Option<Vec<String>>,
    #[serde(default)]
    pub tracking_categories: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BypassMode {
    Auto,
    ForceOn,
    ForceOff,
}

fn categories(values: &Option<Vec<String>>) -> Value {
    let mut seen: Vec<String> = Vec::new();
    for value in values.iter().flatten() {
        let value = value.trim().to_lowercase();
        if !value.is_empty() && !seen.contains(&value) {
            seen.push(value);
        }
    }
    if seen.is_empty() {
        Value::Null
    } else {
        json!(seen)
    }
}

/// The preset's graph: source -> [fps] -> [analysis] -> stream, edges `out -> in`, drop oldest.
pub fn graph(
    transmission_id: &str,
    camera_id: &str,
    camera_source_id: &str,
    preset: Preset,
    options: &Options,
) -> Graph {
    let mut nodes = vec![
        json!({"id": "source", "operator": "camera.source", "config": {
        "camera_id": camera_id, "source_id": camera_source_id,
        "backend": options.source_backend.clone().unwrap_or_else(|| "auto".into())}}),
    ];
    let mut chain: Vec<(&str, u32)> = vec![("source", 0)];
    let fps_limit = options.fps_limit.filter(|f| *f > 0.0);
    if preset == Preset::MotionGateStream
        || options.use_fps_reducer == Some(true)
        || fps_limit.is_some()
    {
        nodes.push(json!({"id": "fps", "operator": "core.fps_reducer",
                          "config": {"target_fps": fps_limit.unwrap_or(5.0)}}));
        chain.push(("fps", 8));
    }
    let event_gated = options.stream_behavior == StreamBehavior::EventGated;
    let stream = json!({"id": "stream", "operator": "stream.publish_video", "config": {
        "transmission_id": transmission_id,
        "resize_mode": options.resize_mode.unwrap_or_default(),
        "writer_priority": options.writer_priority.unwrap_or(0),
        "bypass_mode": options.bypass_mode.unwrap_or(BypassMode::Auto)}});
    let analysis: Vec<(Value, u32)> = match preset {
        Preset::SimpleStream => vec![],
        Preset::MotionGateStream => vec![(
            json!({"id": "motion", "operator": "camera.motion_gate", "config": {
            "threshold": options.motion_sensitivity.unwrap_or(0.010),
            "activation_frames": 2,
            "hold_seconds": options.motion_hold_seconds.unwrap_or(6.0),
            "emit_when_idle": false}}),
            2,
        )],
        Preset::DetectionStream => vec![(
            json!({"id": "detect", "operator": "vision.detect", "config": {
            "model_id": "rfdetr_det_medium",
            "categories": categories(&options.detection_categories),
            "confidence_threshold": options.yolo_confidence_threshold.unwrap_or(0.55),
            "emit_mode": if event_gated && options.yolo_filter_enabled.unwrap_or(true) { "filter" } else { "annotate" }}}),
            2,
        )],
        Preset::TrackingStream => vec![
            (
                json!({"id": "detect", "operator": "vision.detect", "config": {
                "model_id": "rfdetr_det_medium",
                "categories": categories(&options.detection_categories),
                "confidence_threshold": options.yolo_confidence_threshold.unwrap_or(0.25),
                "emit_mode": "annotate"}}),
                2,
            ),
            (
                json!({"id": "track", "operator": "vision.track", "config": {
                "tracker_id": "byte_world", "categories": categories(&options.tracking_categories),
                "open_threshold": 0.50, "continue_threshold": 0.25, "close_after_seconds": 10,
                "stitch_gap_seconds": 30, "default_interval_seconds": 0.25, "use_world_anchor": "auto",
                "world_match_distance_meters": 3.0}}),
                2,
            ),
        ],
        Preset::SegmentationStream => vec![(
            json!({"id": "segment", "operator": "vision.segment_instances", "config": {
            "model_id": "rtmdet_ins_small", "categories": categories(&options.detection_categories),
            "attach_mask_artifacts": true}}),
            4,
        )],
    };
    let mut order: Vec<(String, u32)> = chain
        .iter()
        .map(|(id, size)| (id.to_string(), *size))
        .collect();
    let analysis_ids: Vec<(String, u32)> = analysis
        .iter()
        .map(|(node, size)| (node["id"].as_str().unwrap_or_default().to_string(), *size))
        .collect();
    nodes.extend(analysis.into_iter().map(|(node, _)| node));
    nodes.push(stream);
    // Continuous: the stream follows the source (and fps); event-gated: it follows the analysis.
    if event_gated {
        order.extend(analysis_ids);
        order.push(("stream".into(), 2));
    } else {
        order.push(("stream".into(), 8));
        order.extend(analysis_ids);
    }
    let mut edges = Vec::new();
    if event_gated || preset == Preset::SimpleStream {
        for pair in order.windows(2) {
            edges.push(edge(&pair[0].0, &pair[1].0, pair[1].1));
        }
    } else {
        // Continuous vision presets: frames go on to the stream and, beside it, to the analysis.
        let stream_at = order.iter().position(|(id, _)| id == "stream").unwrap_or(0);
        for pair in order[..=stream_at].windows(2) {
            edges.push(edge(&pair[0].0, &pair[1].0, pair[1].1));
        }
        let feed = &order[stream_at - 1].0;
        let mut previous = feed.clone();
        for (id, size) in &order[stream_at + 1..] {
            edges.push(edge(&previous, id, *size));
            previous = id.clone();
        }
    }
    serde_json::from_value(json!({
        "schema_version": 1,
        "nodes": nodes,
        "edges": edges,
        "meta": {"streaming": {
            "transmission_id": transmission_id, "camera_id": camera_id,
            "camera_source_id": camera_source_id, "preset_id": preset,
            "stream_behavior": options.stream_behavior, "demand_driven": false}},
    }))
    .expect("wizard graphs are well-formed")
}

fn edge(from: &str, to: &str, maxsize: u32) -> Value {
    json!({"from": {"node": from, "port": "out"}, "to": {"node": to, "port": "in"},
           "maxsize": maxsize, "drop_policy": "drop_oldest"})
}

/// A pipeline name from its parts: ASCII, pipeline-safe, generic words dropped, `__`-joined.
pub fn suggested_name(
    transmission_path: &str,
    camera_id: &str,
    source_id: &str,
    preset: Preset,
) -> String {
    let word = match preset {
        Preset::SimpleStream => "stream",
        Preset::MotionGateStream => "motion",
        Preset::DetectionStream => "detection",
        Preset::TrackingStream => "tracking",
        Preset::SegmentationStream => "segmentation",
    };
    let clean = |part: &str| -> String {
        part.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect::<String>()
            .trim_matches('_')
            .to_string()
    };
    let generic = ["stream", "transmission", "transmissao", "fluxo"];
    let mut parts: Vec<String> = Vec::new();
    for part in [transmission_path, camera_id, source_id, word] {
        let part = clean(part);
        let is_uuid = uuid::Uuid::parse_str(&part.replace('_', "-")).is_ok();
        if part.is_empty() || is_uuid || (generic.contains(&part.as_str()) && part != word) {
            continue;
        }
        if !parts.iter().any(|p| p.eq_ignore_ascii_case(&part)) {
            parts.push(part);
        }
    }
    parts.join("__")
}

/// The body of `POST /wizard/create-pipeline`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    transmission_id: String,
    camera_id: String,
    #[serde(default)]
    camera_source_id: Option<String>,
    /// Parsed after the body so an unknown preset is the original's 400, not a 422.
    preset_id: String,
    #[serde(default)]
    optional_parameters: Option<Options>,
}

/// A parsed, checked request.
#[derive(Debug)]
pub struct Checked {
    transmission_id: String,
    camera_id: String,
    camera_source_id: Option<String>,
    preset: Preset,
    options: Options,
}

impl Request {
    /// The body checked alone: required ids (422), a known preset (400), fps in range (422).
    pub fn parse(body: serde_json::Value) -> Result<Checked, ModelError> {
        let request: Request = from_value(body, &Loc::body())?;
        let preset: Preset = serde_json::from_value(serde_json::json!(request.preset_id.trim()))
            .map_err(|_| ModelError::BadRequest("Unknown preset_id".into()))?;
        for (field, value) in [
            ("transmission_id", &request.transmission_id),
            ("camera_id", &request.camera_id),
        ] {
            if value.trim().is_empty() {
                return Err(ModelError::invalid(
                    &Loc::body().key(field),
                    "Field is required",
                ));
            }
        }
        let options = request.optional_parameters.unwrap_or_default();
        if options
            .fps_limit
            .is_some_and(|fps| !(0.5..=60.0).contains(&fps))
        {
            return Err(ModelError::invalid(
                &Loc::body().key("optional_parameters").key("fps_limit"),
                "fps_limit must be between 0.5 and 60",
            ));
        }
        Ok(Checked {
            transmission_id: request.transmission_id.trim().to_string(),
            camera_id: request.camera_id.trim().to_string(),
            camera_source_id: request
                .camera_source_id
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            preset,
            options,
        })
    }
}

/// The wizard's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub pipeline_name: String,
    pub transmission_id: String,
    pub camera_id: String,
    pub camera_source_id: String,
    pub preset_id: Preset,
    pub engine_running: bool,
    pub warnings: Vec<String>,
}

/// Adds the preset's pipeline for the camera source and the transmission, and reconciles, as one
/// edit of the document (refusals change nothing: the store works on a copy).
pub fn create(
    doc: &mut StreamingSettings,
    request: Checked,
    engine_running: bool,
    now: &str,
) -> Result<Created, ModelError> {
    let Checked {
        transmission_id,
        camera_id,
        camera_source_id,
        preset,
        options,
    } = request;
    let transmission = doc
        .transmission(&transmission_id)
        .cloned()
        .ok_or_else(|| ModelError::NotFound("Transmission not found".into()))?;
    let camera = doc
        .camera(&camera_id)
        .cloned()
        .ok_or_else(|| ModelError::NotFound("Camera not found".into()))?;
    let source = camera
        .video_source(camera_source_id.as_deref())
        .ok_or_else(|| ModelError::Refused("Camera source not found or disabled".into()))?;
    let host = options
        .processing_server_id
        .as_deref()
        .map(crate::model::transmission::normalize_server_id)
        .unwrap_or_else(|| "local".into());
    if !doc.is_known_host(&host) {
        return Err(ModelError::BadRequest(format!(
            "Unknown host_server_id: {host}"
        )));
    }
    if host != transmission.host_server_id {
        return Err(ModelError::BadRequest(format!(
            "Transmission host_server_id must match pipeline processing_server_id. \
             Transmission='{}' Pipeline='{host}'.",
            transmission.host_server_id
        )));
    }
    let name = match options
        .pipeline_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(name) if doc.pipeline(name).is_some() => {
            return Err(ModelError::Refused(format!(
                "Pipeline already exists: {name}"
            )));
        }
        Some(name) => name.to_string(),
        None => {
            let base = suggested_name(&transmission.path, &camera.id, &source.id, preset);
            let mut name = base.clone();
            let mut n = 2;
            while doc.pipeline(&name).is_some() {
                name = format!("{base}_{n}");
                n += 1;
            }
            name
        }
    };
    let pipeline = Pipeline {
        name: name.clone(),
        enabled: options.enabled.unwrap_or(true),
        processing_server_id: host.clone(),
        graph: graph(&transmission.id, &camera.id, &source.id, preset, &options),
        extra: serde_json::json!({"editor_mode": "interactive", "python_source": ""})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    doc.pipelines.push(pipeline);
    crate::reconcile::reconcile(doc, now);
    let mut warnings: Vec<String> = Vec::new();
    if host != "local" {
        warnings.push(
            "Pipeline is assigned to a remote processing server. Check engine status on the \
             selected processing server."
                .into(),
        );
    } else if !engine_running {
        warnings.push(
            "Streaming engine is not running. Start the engine to publish this pipeline.".into(),
        );
    }
    if !transmission.enabled {
        warnings.push("Transmission is disabled. Enable it to publish frames.".into());
    }
    if options.stream_behavior == StreamBehavior::EventGated {
        warnings.push(
            "This pipeline is event-gated. It may intentionally stop publishing frames when no \
             motion/detection event is present."
                .into(),
        );
    }
    let runnable = doc
        .pipeline(&name)
        .is_some_and(|p| p.unsupported_operators().is_empty());
    if !runnable {
        warnings.push(format!(
            "Pipeline '{name}' uses operators that do not run in this service; it is stored for a \
             processing server that has them."
        ));
    }
    Ok(Created {
        pipeline_name: name,
        transmission_id: transmission.id,
        camera_source_id: source.id.clone(),
        camera_id: camera.id.clone(),
        preset_id: preset,
        engine_running: host == "local" && engine_running,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(graph: &Graph) -> Vec<String> {
        graph
            .chain()
            .map(|c| c.iter().map(|n| n.id.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn presets_build_the_original_graphs() {
        let simple = graph(
            "t",
            "cam",
            "main",
            Preset::SimpleStream,
            &Options::default(),
        );
        assert_eq!(ops(&simple), ["source", "stream"]);
        assert_eq!(simple.node("stream").unwrap().config["bypass_mode"], "auto");
        let reduced = graph(
            "t",
            "cam",
            "main",
            Preset::SimpleStream,
            &Options {
                fps_limit: Some(4.0),
                ..Default::default()
            },
        );
        assert_eq!(ops(&reduced), ["source", "fps", "stream"]);
        assert_eq!(reduced.node("fps").unwrap().config["target_fps"], 4.0);
        let gated = graph(
            "t",
            "cam",
            "main",
            Preset::DetectionStream,
            &Options {
                stream_behavior: StreamBehavior::EventGated,
                ..Default::default()
            },
        );
        assert_eq!(ops(&gated), ["source", "detect", "stream"]);
        assert_eq!(gated.node("detect").unwrap().config["emit_mode"], "filter");
        let motion = graph(
            "t",
            "cam",
            "main",
            Preset::MotionGateStream,
            &Options::default(),
        );
        assert!(
            motion.chain().is_none(),
            "continuous: the stream does not wait for the gate"
        );
        assert_eq!(
            motion
                .upstream("stream")
                .iter()
                .map(|n| n.id.as_str())
                .collect::<Vec<_>>(),
            ["fps", "source"]
        );
    }

    #[test]
    fn suggested_names() {
        assert_eq!(
            suggested_name("front-door", "cam1", "main", Preset::SimpleStream),
            "front-door__cam1__main__stream"
        );
        assert_eq!(
            suggested_name(
                "9f1c0c8e-1d2a-4b7e-9c1e-0d3f5a6b7c8d",
                "cam1",
                "main",
                Preset::TrackingStream
            ),
            "cam1__main__tracking"
        );
    }
}
