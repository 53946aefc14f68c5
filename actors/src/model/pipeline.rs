//! Pipelines: graphs of operator nodes stored in the settings document. This service runs the
//! operators it has (`camera.source`, `core.fps_reducer`, `stream.publish_video`); graphs with
//! other operators are stored and reported as not runnable here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{Errors, Loc};

pub const CAMERA_SOURCE: &str = "camera.source";
pub const FPS_REDUCER: &str = "core.fps_reducer";
pub const PUBLISH_VIDEO: &str = "stream.publish_video";
/// The node setting that holds a secret (`camera.source` with its own `rtsp_url`).
const PASSWORD: &str = "password";
/// Operators this service runs itself.
pub const RUNNABLE: [&str; 3] = [CAMERA_SOURCE, FPS_REDUCER, PUBLISH_VIDEO];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Node {
    pub id: String,
    pub operator: String,
    #[serde(default)]
    pub config: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Node {
    pub fn text(&self, key: &str) -> Option<&str> {
        self.config
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    pub fn number(&self, key: &str) -> Option<f64> {
        self.config.get(key).and_then(Value::as_f64)
    }

    pub fn flag(&self, key: &str) -> bool {
        self.config
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub node: String,
    #[serde(default)]
    pub port: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Edge {
    pub from: Endpoint,
    pub to: Endpoint,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Graph {
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    #[serde(default)]
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
    #[serde(default)]
    pub meta: Map<String, Value>,
}

impl Graph {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// `meta.streaming.<key>` as text.
    pub fn streaming_meta(&self, key: &str) -> Option<&str> {
        self.meta.get("streaming")?.get(key)?.as_str()
    }

    /// The nodes in chain order when the graph is one straight line that uses every node
    /// (`a -> b -> c`), else `None`.
    pub fn chain(&self) -> Option<Vec<&Node>> {
        let first = self
            .nodes
            .iter()
            .find(|n| !self.edges.iter().any(|e| e.to.node == n.id))?;
        let mut chain = vec![first];
        while chain.len() <= self.nodes.len() {
            let last = chain.last()?.id.as_str();
            let mut next = self.edges.iter().filter(|e| e.from.node == last);
            match (next.next(), next.next()) {
                (None, _) => break,
                (Some(edge), None) => chain.push(self.node(&edge.to.node)?),
                _ => return None,
            }
        }
        (chain.len() == self.nodes.len() && self.edges.len() + 1 == self.nodes.len())
            .then_some(chain)
    }

    /// Every node upstream of `node_id` (following edges backwards).
    pub fn upstream(&self, node_id: &str) -> Vec<&Node> {
        let mut seen: Vec<&str> = vec![node_id];
        let mut found = Vec::new();
        let mut index = 0;
        while index < seen.len() {
            let current = seen[index];
            for edge in self.edges.iter().filter(|e| e.to.node == current) {
                if !seen.contains(&edge.from.node.as_str()) {
                    seen.push(&edge.from.node);
                    if let Some(node) = self.node(&edge.from.node) {
                        found.push(node);
                    }
                }
            }
            index += 1;
        }
        found
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Pipeline {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "super::transmission::local")]
    pub processing_server_id: String,
    #[serde(default)]
    pub graph: Graph,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Pipeline {
    pub fn normalize(&mut self) {
        self.name = self.name.trim().to_string();
        self.processing_server_id =
            super::transmission::normalize_server_id(&self.processing_server_id);
    }

    pub fn validate(&self, loc: &Loc, errors: &mut Errors) {
        if self.name.is_empty() {
            errors.push(&loc.key("name"), "pipeline name must not be empty");
        } else {
            errors.identifier(&loc.key("name"), "pipeline name", &self.name);
        }
        let graph_loc = loc.key("graph");
        errors.count(
            &graph_loc.key("nodes"),
            "nodes",
            self.graph.nodes.len(),
            super::checks::MAX_NODES,
        );
        errors.count(
            &graph_loc.key("edges"),
            "edges",
            self.graph.edges.len(),
            super::checks::MAX_EDGES,
        );
        let mut ids = std::collections::HashSet::new();
        for (index, node) in self.graph.nodes.iter().enumerate() {
            let node_loc = loc.key("graph").key("nodes").index(index);
            if let Some(url) = node.text("rtsp_url") {
                errors.source_url(&node_loc.key("config").key("rtsp_url"), "rtsp_url", url);
            }
            if node.id.trim().is_empty() {
                errors.push(&node_loc.key("id"), "node id must not be empty");
            } else if !errors.identifier(&node_loc.key("id"), "node id", &node.id) {
            } else if !ids.insert(node.id.as_str()) {
                errors.push(
                    &node_loc.key("id"),
                    format!("Duplicate node id: {}", node.id),
                );
            }
        }
        for (index, edge) in self.graph.edges.iter().enumerate() {
            let edge_loc = loc.key("graph").key("edges").index(index);
            for (end, endpoint) in [("from", &edge.from), ("to", &edge.to)] {
                if self.graph.node(&endpoint.node).is_none() {
                    errors.push(
                        &edge_loc.key(end).key("node"),
                        format!("Edge refers to an unknown node: {}", endpoint.node),
                    );
                }
            }
        }
    }

    /// Who generated it (`stream_publication` for implicit camera pipelines), if anyone.
    pub fn generated_by(&self) -> Option<&str> {
        self.graph.streaming_meta("generated_by")
    }

    /// A copy safe to show: node `password` settings (a camera source's stream password)
    /// replaced by the marker.
    pub fn redacted(&self) -> Pipeline {
        let mut copy = self.clone();
        for node in &mut copy.graph.nodes {
            if let Some(Value::String(url)) = node.config.get_mut("rtsp_url") {
                *url = super::camera::redact_url(url);
            }
            if let Some(password) = node.config.get_mut(PASSWORD) {
                if password.as_str().is_some_and(|p| !p.is_empty()) {
                    *password = Value::from(super::transmission::REDACTED);
                }
            }
        }
        copy
    }

    /// Puts back stored node passwords where a client sent the redaction marker.
    pub fn restore_redacted_passwords(&mut self, stored: Option<&Pipeline>) {
        for node in &mut self.graph.nodes {
            // A URL read redacted comes back as the stored one (or loses its marker password).
            if let Some(url) = node.text("rtsp_url").map(str::to_string) {
                let stored_url = stored
                    .and_then(|p| p.graph.node(&node.id))
                    .and_then(|n| n.text("rtsp_url"))
                    .filter(|s| super::camera::redact_url(s) == url && *s != url)
                    .map(str::to_string);
                if let Some(stored_url) = stored_url {
                    node.config
                        .insert("rtsp_url".into(), Value::from(stored_url));
                }
            }
            if node.config.get(PASSWORD).and_then(Value::as_str)
                != Some(super::transmission::REDACTED)
            {
                continue;
            }
            let kept = stored
                .and_then(|p| p.graph.node(&node.id))
                .and_then(|n| n.config.get(PASSWORD))
                .cloned();
            match kept {
                Some(password) => {
                    node.config.insert(PASSWORD.into(), password);
                }
                None => {
                    node.config.remove(PASSWORD);
                }
            }
        }
    }

    /// Operators of the graph this service cannot run, in graph order.
    pub fn unsupported_operators(&self) -> Vec<&str> {
        let mut found: Vec<&str> = Vec::new();
        for node in &self.graph.nodes {
            if !RUNNABLE.contains(&node.operator.as_str())
                && !found.contains(&node.operator.as_str())
            {
                found.push(&node.operator);
            }
        }
        found
    }
}

fn schema_version() -> u32 {
    1
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph(nodes: &[(&str, &str)], edges: &[(&str, &str)]) -> Graph {
        serde_json::from_value(json!({
            "nodes": nodes.iter().map(|(id, op)| json!({"id": id, "operator": op})).collect::<Vec<_>>(),
            "edges": edges.iter().map(|(a, b)| json!({"from": {"node": a}, "to": {"node": b}})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn chains_are_straight_lines_over_every_node() {
        let simple = graph(
            &[
                ("stream", PUBLISH_VIDEO),
                ("source", CAMERA_SOURCE),
                ("fps", FPS_REDUCER),
            ],
            &[("source", "fps"), ("fps", "stream")],
        );
        let ids: Vec<&str> = simple
            .chain()
            .unwrap()
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(ids, ["source", "fps", "stream"]);
        let forked = graph(
            &[
                ("source", CAMERA_SOURCE),
                ("a", PUBLISH_VIDEO),
                ("b", PUBLISH_VIDEO),
            ],
            &[("source", "a"), ("source", "b")],
        );
        assert!(forked.chain().is_none());
        let detached = graph(&[("source", CAMERA_SOURCE), ("stream", PUBLISH_VIDEO)], &[]);
        assert!(detached.chain().is_none());
        let ups: Vec<&str> = simple
            .upstream("stream")
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(ups, ["fps", "source"]);
    }
}
