//! `GET /runtime/pipelines` in the original's shape: one link per `stream.publish_video` node that
//! names an existing transmission, with its graph, next to what this service does with it.

use serde::Serialize;

use super::supervisor::PipelineRuntime;
use crate::model::pipeline::{CAMERA_SOURCE, PUBLISH_VIDEO, Pipeline};
use crate::model::settings::StreamingSettings;
use crate::reconcile::event_gates;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkNode {
    pub node_id: String,
    pub operator_id: String,
    pub upstream_to_publish: bool,
    pub stream_publish: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkEdge {
    pub source_node_id: String,
    pub source_port: Option<String>,
    pub target_node_id: String,
    pub target_port: Option<String>,
}

/// One pipeline -> transmission link (`StreamingRuntimePipelineLink`), with this service's
/// runtime of the pipeline (`mode`, `reader_state`, ...).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PipelineLink {
    pub transmission_id: String,
    pub pipeline_name: String,
    pub enabled: bool,
    pub processing_server_id: String,
    pub publish_node_id: String,
    pub source_node_id: Option<String>,
    pub source_id: Option<String>,
    pub camera_id: Option<String>,
    pub camera_source_id: Option<String>,
    pub writer_id: String,
    pub stream_behavior: &'static str,
    pub event_gated: bool,
    pub event_gate_reasons: Vec<&'static str>,
    pub demand_driven: bool,
    pub warnings: Vec<&'static str>,
    pub nodes: Vec<LinkNode>,
    pub edges: Vec<LinkEdge>,
    pub mode: &'static str,
    pub reason: Option<String>,
    pub source: Option<String>,
    pub reader_state: &'static str,
    pub restarts: u32,
    pub last_error: Option<String>,
}

/// Every link, sorted by (transmission, pipeline, publish node).
pub fn links(doc: &StreamingSettings, runtimes: &[PipelineRuntime]) -> Vec<PipelineLink> {
    let mut links: Vec<PipelineLink> = doc
        .pipelines
        .iter()
        .flat_map(|pipeline| {
            let runtime = runtimes
                .iter()
                .find(|r| r.plan.pipeline_name == pipeline.name);
            pipeline
                .graph
                .nodes
                .iter()
                .filter(|node| node.operator == PUBLISH_VIDEO)
                .filter_map(move |publish| {
                    let transmission = doc.transmission(publish.text("transmission_id")?)?;
                    Some(link(pipeline, &publish.id, &transmission.id, runtime))
                })
        })
        .collect();
    links.sort_by(|a, b| {
        (&a.transmission_id, &a.pipeline_name, &a.publish_node_id).cmp(&(
            &b.transmission_id,
            &b.pipeline_name,
            &b.publish_node_id,
        ))
    });
    links
}

fn link(
    pipeline: &Pipeline,
    publish_node_id: &str,
    transmission_id: &str,
    runtime: Option<&PipelineRuntime>,
) -> PipelineLink {
    let graph = &pipeline.graph;
    let upstream = graph.upstream(publish_node_id);
    let source = upstream.iter().find(|n| n.operator == CAMERA_SOURCE);
    let camera_id = source.and_then(|n| n.text("camera_id")).map(str::to_string);
    let camera_source_id = source.and_then(|n| n.text("source_id")).map(str::to_string);
    let source_id = source.map(|node| match (&camera_id, &camera_source_id) {
        (Some(camera), Some(source)) => {
            format!(
                "{}:{}:camera:{camera}:source:{source}",
                pipeline.name, node.id
            )
        }
        (Some(camera), None) => format!("{}:{}:camera:{camera}", pipeline.name, node.id),
        _ => format!("{}:{}", pipeline.name, node.id),
    });
    let gates = event_gates(graph, publish_node_id);
    let streaming = graph.meta.get("streaming");
    let explicit_gate = streaming
        .and_then(|s| s.get("stream_behavior"))
        .and_then(serde_json::Value::as_str)
        == Some("event_gated");
    let mut warnings: Vec<&'static str> = gates.iter().map(|(_, warning)| *warning).collect();
    if explicit_gate {
        warnings.push("This stream is explicitly configured as event-gated.");
    }
    let event_gated = explicit_gate || !gates.is_empty();
    let demand_driven = streaming
        .and_then(|s| s.get("demand_driven"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
        || upstream.iter().any(|n| n.operator == "stream.demand_gate");
    let plan = runtime.map(|r| &r.plan);
    PipelineLink {
        transmission_id: transmission_id.to_string(),
        pipeline_name: pipeline.name.clone(),
        enabled: pipeline.enabled,
        processing_server_id: pipeline.processing_server_id.clone(),
        publish_node_id: publish_node_id.to_string(),
        source_node_id: source.map(|n| n.id.clone()),
        source_id,
        camera_id,
        camera_source_id,
        writer_id: format!("{}:{publish_node_id}", pipeline.name),
        stream_behavior: if event_gated {
            "event_gated"
        } else {
            "continuous"
        },
        event_gated,
        event_gate_reasons: gates.iter().map(|(reason, _)| *reason).collect(),
        demand_driven,
        warnings,
        nodes: graph
            .nodes
            .iter()
            .map(|node| LinkNode {
                node_id: node.id.clone(),
                operator_id: node.operator.clone(),
                upstream_to_publish: upstream.iter().any(|u| u.id == node.id),
                stream_publish: node.id == publish_node_id,
            })
            .collect(),
        edges: graph
            .edges
            .iter()
            .map(|edge| LinkEdge {
                source_node_id: edge.from.node.clone(),
                source_port: edge.from.port.clone(),
                target_node_id: edge.to.node.clone(),
                target_port: edge.to.port.clone(),
            })
            .collect(),
        mode: plan.map_or("stopped", |p| p.mode),
        reason: plan.and_then(|p| p.reason.clone()),
        source: plan.and_then(|p| p.source.clone()),
        reader_state: runtime.map_or("stopped", |r| r.reader_state),
        restarts: runtime.map_or(0, |r| r.restarts),
        last_error: runtime.and_then(|r| r.last_error.clone()),
    }
}
