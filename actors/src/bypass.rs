//! Bypass: which transmissions are fed by a simple camera pipeline whose publishers can pull the
//! camera themselves (`rtsp_pull`) instead of decoding it in a camera reader and re-encoding the
//! frames from a pipe. Pure, over the settings document.

use std::collections::BTreeMap;

use crate::model::pipeline::{CAMERA_SOURCE, FPS_REDUCER, Node, PUBLISH_VIDEO, Pipeline};
use crate::model::settings::StreamingSettings;

/// A camera a transmission's publishers pull directly. `url` carries the stream credentials:
/// never log it (use `model::camera::redact_url`).
#[derive(Debug, Clone, PartialEq)]
pub struct BypassSource {
    pub url: String,
    /// From a `core.fps_reducer` in the chain; publishers encode at most this fps.
    pub fps_limit: Option<f64>,
    pub pipeline: String,
    pub writer_id: String,
}

/// The camera.source -> [core.fps_reducer ->] stream.publish_video chain of a pipeline, when its
/// whole graph is exactly that.
pub struct SimpleChain<'a> {
    pub source: &'a Node,
    pub reducer: Option<&'a Node>,
    pub publish: &'a Node,
}

pub fn simple_chain(pipeline: &Pipeline) -> Option<SimpleChain<'_>> {
    let chain = pipeline.graph.chain()?;
    let operators: Vec<&str> = chain.iter().map(|n| n.operator.as_str()).collect();
    match operators.as_slice() {
        [CAMERA_SOURCE, PUBLISH_VIDEO] => Some(SimpleChain {
            source: chain[0],
            reducer: None,
            publish: chain[1],
        }),
        [CAMERA_SOURCE, FPS_REDUCER, PUBLISH_VIDEO] => Some(SimpleChain {
            source: chain[0],
            reducer: Some(chain[1]),
            publish: chain[2],
        }),
        _ => None,
    }
}

/// The input URL of a `camera.source` node: its own `rtsp_url` (with `username`/`password`), or
/// the registered camera source it names.
pub fn source_url(doc: &StreamingSettings, node: &Node) -> Option<String> {
    if let Some(url) = node.text("rtsp_url") {
        let source: crate::model::camera::CameraSource =
            serde_json::from_value(serde_json::json!({
                "id": "adhoc",
                "origin": {"rtsp_url": url, "stream_username": node.text("username"),
                           "stream_password": node.text("password")}
            }))
            .ok()?;
        return source.input_url();
    }
    let camera = doc.camera(node.text("camera_id")?)?;
    camera.video_source(node.text("source_id"))?.input_url()
}

/// Transmission id -> the camera its publishers pull, for every enabled local pipeline that is a
/// simple chain with `bypass_mode` other than `force_off` and a resolvable source. A transmission
/// fed by several such pipelines is not bypassed (which camera would win is the arbiter's call).
pub fn bypass_sources(doc: &StreamingSettings) -> BTreeMap<String, BypassSource> {
    let mut found: BTreeMap<String, Vec<BypassSource>> = BTreeMap::new();
    for pipeline in doc
        .pipelines
        .iter()
        .filter(|p| p.enabled && p.processing_server_id == crate::distributed::LOCAL_SERVER_ID)
    {
        let Some(chain) = simple_chain(pipeline) else {
            continue;
        };
        if chain.publish.text("bypass_mode") == Some("force_off") {
            continue;
        }
        let Some(transmission_id) = chain.publish.text("transmission_id") else {
            continue;
        };
        let Some(url) = source_url(doc, chain.source) else {
            continue;
        };
        found
            .entry(transmission_id.to_string())
            .or_default()
            .push(BypassSource {
                url,
                fps_limit: chain
                    .reducer
                    .and_then(|r| r.number("target_fps"))
                    .filter(|fps| *fps > 0.0),
                pipeline: pipeline.name.clone(),
                writer_id: format!("{}:{}", pipeline.name, chain.publish.id),
            });
    }
    found
        .into_iter()
        .filter_map(|(id, mut sources)| (sources.len() == 1).then(|| (id, sources.remove(0))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(pipelines: serde_json::Value) -> StreamingSettings {
        serde_json::from_value(json!({
            "cameras": [{"id": "cam", "sources": [
                {"id": "main", "is_default": true, "origin": {"rtsp_url": "rtsp://10.0.0.5/main",
                 "stream_username": "admin", "stream_password": "pw"}}]}],
            "pipelines": pipelines
        }))
        .unwrap()
    }

    fn chain(
        name: &str,
        mid: Option<serde_json::Value>,
        publish: serde_json::Value,
    ) -> serde_json::Value {
        let mut nodes =
            vec![json!({"id": "src", "operator": "camera.source", "config": {"camera_id": "cam"}})];
        let mut edges = vec![];
        let mut last = "src";
        if let Some(mid) = mid {
            nodes.push(mid);
            edges.push(json!({"from": {"node": "src"}, "to": {"node": "mid"}}));
            last = "mid";
        }
        nodes.push(json!({"id": "pub", "operator": "stream.publish_video", "config": publish}));
        edges.push(json!({"from": {"node": last}, "to": {"node": "pub"}}));
        json!({"name": name, "graph": {"nodes": nodes, "edges": edges}})
    }

    #[test]
    fn simple_camera_chains_are_bypassed() {
        let d = doc(json!([
            chain("a", None, json!({"transmission_id": "t1"})),
            chain(
                "b",
                Some(
                    json!({"id": "mid", "operator": "core.fps_reducer", "config": {"target_fps": 5}})
                ),
                json!({"transmission_id": "t2", "bypass_mode": "force_on"})
            ),
            chain(
                "c",
                None,
                json!({"transmission_id": "t3", "bypass_mode": "force_off"})
            ),
            chain(
                "d",
                Some(json!({"id": "mid", "operator": "vision.detect"})),
                json!({"transmission_id": "t4"})
            ),
        ]));
        let found = bypass_sources(&d);
        assert_eq!(found.keys().collect::<Vec<_>>(), ["t1", "t2"]);
        assert_eq!(found["t1"].url, "rtsp://admin:pw@10.0.0.5/main");
        assert_eq!(found["t1"].writer_id, "a:pub");
        assert_eq!(found["t2"].fps_limit, Some(5.0));
    }

    #[test]
    fn two_cameras_into_one_transmission_are_not_bypassed() {
        let d = doc(json!([
            chain("a", None, json!({"transmission_id": "t"})),
            chain("b", None, json!({"transmission_id": "t"})),
        ]));
        assert!(bypass_sources(&d).is_empty());
    }
}
