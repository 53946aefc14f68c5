//! Health and runtime introspection.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use toposync_actors::Runtime;
use toposync_actors::store;
use toposync_actors::supervision::observe::ActorSnapshot;

use super::STORE_DEADLINE;

/// Each actor gets this long to describe itself before it is shown as unresponsive.
const OBSERVE_DEADLINE: Duration = Duration::from_millis(500);

pub async fn health() -> Json<Value> {
    let mut warnings = Vec::new();
    let settings = match store::status(STORE_DEADLINE).await {
        Ok(status) => {
            if let Some(recovery) = &status.recovery {
                warnings.push(format!(
                    "The settings file was unreadable ({}); it was kept at {} and defaults were loaded.",
                    recovery.reason,
                    recovery.moved_to.display()
                ));
            }
            json!(status)
        }
        Err(err) => {
            warnings.push(format!("The settings store is not available: {err:?}"));
            Value::Null
        }
    };
    Json(json!({
        // Liveness stays "ok" as in the original contract; problems are listed in `warnings`.
        "status": "ok",
        "extension": "com.toposync.streaming",
        "version": env!("CARGO_PKG_VERSION"),
        "settings": settings,
        "warnings": warnings,
    }))
}

pub async fn actors(State(runtime): State<Arc<Runtime>>) -> Json<ActorSnapshot> {
    Json(runtime.snapshot(OBSERVE_DEADLINE).await)
}
